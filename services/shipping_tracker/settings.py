"""Settings of shipping-tracker. Environment prefix ``ECOMBUS_SHIPPING_TRACKER_``.

The webhook secrets keep their documented names (``EASYPOST_WEBHOOK_SECRET``,
``AFTERSHIP_WEBHOOK_SECRET``), without the prefix; they are SecretStr and never logged.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus.webhooks.body import DEFAULT_MAX_BODY_BYTES


class ShippingTrackerSettings(BaseSettings):
    """What shipping-tracker listens on, where it publishes, and the store it reports to.

    Attributes:
        host / port: the webhook server (``:8082``; ``/webhooks/easypost``, ``/webhooks/aftership``).
        shipments_topic / status_topic: ShipmentUpdated and OrderStatusChanged (real names by default).
        max_body_bytes / ack_timeout_seconds: as for order-capture (5 MiB; below the carriers'
            reply timeouts).
        storefront_platform / storefront_system: the store orders belong to, as order ids name it
            (``shopify`` and the shop domain): a carrier's order reference ``6120004415`` becomes
            ``shopify:<shop>:6120004415``; ``#1042`` is looked up by name.
        storefront_api_url / storefront_api_token: its admin API (``X-Shopify-Access-Token``).
        notify_customer: the store e-mails the customer when the fulfillment is created.
        dedupe_ttl_seconds: how long handled carrier events and pushed fulfillments are remembered.
        intake_topic: where every accepted carrier webhook is stored as it came (RawDelivery).
        intake_group_id: the intake stage's consumer group (every replica joins it).
        intake_changelog_topic: the intake stage's handled carrier event ids.
        state_dir: where the intake stage keeps them on disk (a temporary folder by default; one
            folder per replica: a replica empties its file at start).
    """

    model_config = SettingsConfigDict(env_prefix="ECOMBUS_SHIPPING_TRACKER_", frozen=True, extra="ignore",
                                      populate_by_name=True)

    host: str = "0.0.0.0"
    port: int = Field(8082, ge=0, le=65535)
    shipments_topic: str = "shipments.tracking.v1"
    status_topic: str = "orders.status.v1"
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1024)
    ack_timeout_seconds: float = Field(3.0, gt=0, lt=10)
    easypost_webhook_secret: SecretStr | None = Field(None, validation_alias="EASYPOST_WEBHOOK_SECRET")
    aftership_webhook_secret: SecretStr | None = Field(None, validation_alias="AFTERSHIP_WEBHOOK_SECRET")
    storefront_platform: str = "shopify"
    storefront_system: str = "hanako-tea.myshopify.com"
    storefront_api_url: str = "http://127.0.0.1:8090"
    storefront_api_token: SecretStr | None = None
    notify_customer: bool = False
    dedupe_ttl_seconds: float = Field(30 * 24 * 3600, gt=0)
    intake_topic: str = "intake.carriers.v1"
    intake_changelog_topic: str = "shipping-tracker.intake.changelog"
    intake_group_id: str = "ecombus.shipping-tracker.intake"
    state_dir: Path | None = None
