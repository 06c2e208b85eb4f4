"""Settings of order-capture. Environment prefix ``ECOMBUS_ORDER_CAPTURE_``.

The webhook secrets keep the names platforms document and operators expect
(``SHOPIFY_WEBHOOK_SECRET``, ...), without the prefix; they are SecretStr and never logged.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus.webhooks.body import DEFAULT_MAX_BODY_BYTES
from bus.webhooks.signatures import DEFAULT_TOLERANCE_SECONDS


def _secret(name: str) -> SecretStr | None:
    return Field(None, validation_alias=name,
                 description=f"{name}: the signing secret")


class OrderCaptureSettings(BaseSettings):
    """What order-capture listens on, where it publishes, and how it reaches the storefronts.

    Attributes:
        host / port: the webhook server (``:8080``; ``/webhooks/shopify|woocommerce|bigcommerce``).
        orders_topic / customers_topic / status_topic: where OrderPlaced, CustomerUpserted and
            OrderStatusChanged go (the real names by default).
        max_body_bytes: larger webhook bodies are refused with 413 (5 MiB).
        ack_timeout_seconds: the broker must acknowledge within this budget, else 503; below
            Shopify's 5 s reply timeout.
        signature_tolerance_seconds: Standard Webhooks (BigCommerce) timestamp tolerance.
        dedupe_name: names the compacted topic of handled ids (``bus.processed.<name>.v1``).
        dedupe_ttl_seconds: how long a handled id is remembered (Shopify retries for 4 hours
            and can be a day late; a week by default).
        bigcommerce_api_url / bigcommerce_api_token: where thin BigCommerce webhooks' orders are
            fetched (``X-Auth-Token``).
        shopify_api_url / shopify_api_token / shopify_shop_domain: the Shopify admin API that
            reconciliation lists orders from; reconciliation is off without a URL.
        reconcile_interval_seconds: pause between two reconciliation passes (0: off).
        reconcile_overlap_seconds: each window starts this much before the previous end.
        reconcile_lookback_seconds: the first window's length when no cursor is stored yet.
        cursor_topic: the compacted topic holding reconciliation cursors.
        audit: write a ProcessingRecord to bus.audit.v1 per webhook that carried events.
    """

    model_config = SettingsConfigDict(env_prefix="ECOMBUS_ORDER_CAPTURE_", frozen=True, extra="ignore",
                                      populate_by_name=True)

    host: str = "0.0.0.0"
    port: int = Field(8080, ge=0, le=65535)
    orders_topic: str = "orders.placed.v1"
    customers_topic: str = "customers.profiles.v1"
    status_topic: str = "orders.status.v1"
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1024)
    ack_timeout_seconds: float = Field(3.0, gt=0, lt=5)
    signature_tolerance_seconds: float = Field(DEFAULT_TOLERANCE_SECONDS, gt=0)
    dedupe_name: str = "order-capture"
    dedupe_ttl_seconds: float = Field(7 * 24 * 3600, gt=0)
    shopify_webhook_secret: SecretStr | None = _secret("SHOPIFY_WEBHOOK_SECRET")
    woocommerce_webhook_secret: SecretStr | None = _secret("WOOCOMMERCE_WEBHOOK_SECRET")
    bigcommerce_webhook_secret: SecretStr | None = _secret("BIGCOMMERCE_WEBHOOK_SECRET")
    bigcommerce_api_url: str = "https://api.bigcommerce.com"
    bigcommerce_api_token: SecretStr | None = None
    shopify_api_url: str | None = None
    shopify_api_token: SecretStr | None = None
    shopify_shop_domain: str | None = None
    reconcile_interval_seconds: float = Field(300.0, ge=0)
    reconcile_overlap_seconds: float = Field(120.0, ge=0)
    reconcile_lookback_seconds: float = Field(24 * 3600.0, gt=0)
    cursor_topic: str = "bus.cursors.order-capture.v1"
    audit: bool = True
