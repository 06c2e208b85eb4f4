"""Settings of order-capture. Environment prefix ``ECOMBUS_ORDER_CAPTURE_``.

The webhook secrets keep the names platforms document and operators expect
(``SHOPIFY_WEBHOOK_SECRET``, ...), without the prefix; they are SecretStr and never logged.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus.webhooks.body import DEFAULT_MAX_BODY_BYTES
from bus.webhooks.signatures import DEFAULT_TOLERANCE_SECONDS
from bus.webhooks.tenants import Tenant


def _secret(name: str) -> SecretStr | None:
    return Field(None, validation_alias=name,
                 description=f"{name}: the signing secret")


class OrderCaptureSettings(BaseSettings):
    """What order-capture listens on, where it publishes, and how it reaches the storefronts.

    Attributes:
        parts: which parts this process runs, comma-separated: ``webhooks`` (the HTTP edge and,
            when configured, the reconciler beside it) and ``intake`` (the exactly-once stage);
            both by default. Running them in separate processes (two Deployments) lets each
            scale on its own and keeps the stage's CPU work off the edge's interpreter (one GIL
            per process).
        host / port: the webhook server (``:8080``; ``/webhooks/shopify|woocommerce|bigcommerce``).
        shops: the accepted shops, as JSON: ``[{"platform": "shopify", "domain":
            "hanako-tea.myshopify.com"}, {"platform": "woocommerce", "domain": "shop.example.de",
            "secret": "..."}, {"platform": "bigcommerce", "domain": "1025646"}]`` (a shop without
            ``secret`` is checked with its platform's app secret); a delivery for any other shop
            is refused with 403 before anything is stored.
        intake_topic: where every accepted delivery is stored as it came (RawDelivery).
        intake_group_id: the intake stage's consumer group (every replica joins it).
        intake_changelog_topic: the intake stage's handled dedupe keys.
        state_dir: where the intake stage keeps its dedupe keys on disk (a temporary folder by
            default; they are restored from the changelog on every assignment; one folder per replica: a
            replica empties its file at start).
        orders_topic / customers_topic / status_topic: where OrderPlaced, CustomerUpserted and
            OrderStatusChanged go (the real names by default).
        cancellations_topic / refunds_topic / returns_topic / disputes_topic: where OrderCancelled,
            OrderRefunded, ReturnUpdated and DisputeUpdated go (the real names by default).
        max_body_bytes: larger webhook bodies are refused with 413 (5 MiB).
        ack_timeout_seconds: the broker must acknowledge within this budget, else 503; below
            Shopify's 5 s reply timeout.
        signature_tolerance_seconds: Standard Webhooks (BigCommerce) timestamp tolerance.
        dedupe_ttl_seconds: how long a handled dedupe key is remembered (Shopify retries for 4
            hours and can be a day late; a week by default; also the changelog's retention).
        bigcommerce_api_url / bigcommerce_api_token: where thin BigCommerce webhooks' orders are
            fetched (``X-Auth-Token``).
        woocommerce_api_url / woocommerce_api_key / woocommerce_api_secret: the WooCommerce REST
            API (the site's URL; consumer key and secret, basic auth) a refund's lines are fetched
            from (``/wp-json/wc/v3/orders/<id>/refunds``): an ``order.updated`` lists only refund
            summaries; without it those summaries are published (total, no lines).
        shopify_api_url / shopify_api_token / shopify_shop_domain: the Shopify admin API that
            reconciliation lists orders from; reconciliation is off without a URL.
        reconcile_interval_seconds: pause between two reconciliation passes (0: off).
        reconcile_overlap_seconds: each window starts this much before the previous end.
        reconcile_lookback_seconds: the first window's length when no cursor is stored yet.
        cursor_topic: the compacted topic holding reconciliation cursors.
    """

    model_config = SettingsConfigDict(env_prefix="ECOMBUS_ORDER_CAPTURE_", frozen=True, extra="ignore",
                                      populate_by_name=True)

    parts: str = "webhooks,intake"
    host: str = "0.0.0.0"
    port: int = Field(8080, ge=0, le=65535)
    shops: list[Tenant] = Field(default_factory=list)
    intake_topic: str = "intake.storefronts.v1"
    intake_changelog_topic: str = "order-capture.intake.changelog"
    intake_group_id: str = "ecombus.order-capture.intake"
    state_dir: Path | None = None
    orders_topic: str = "orders.placed.v1"
    customers_topic: str = "customers.profiles.v1"
    status_topic: str = "orders.status.v1"
    cancellations_topic: str = "orders.cancellations.v1"
    refunds_topic: str = "orders.refunds.v1"
    returns_topic: str = "orders.returns.v1"
    disputes_topic: str = "orders.disputes.v1"
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1024)
    ack_timeout_seconds: float = Field(3.0, gt=0, lt=5)
    signature_tolerance_seconds: float = Field(DEFAULT_TOLERANCE_SECONDS, gt=0)
    dedupe_ttl_seconds: float = Field(7 * 24 * 3600, gt=0)
    shopify_webhook_secret: SecretStr | None = _secret("SHOPIFY_WEBHOOK_SECRET")
    woocommerce_webhook_secret: SecretStr | None = _secret("WOOCOMMERCE_WEBHOOK_SECRET")
    bigcommerce_webhook_secret: SecretStr | None = _secret("BIGCOMMERCE_WEBHOOK_SECRET")
    bigcommerce_api_url: str = "https://api.bigcommerce.com"
    bigcommerce_api_token: SecretStr | None = None
    woocommerce_api_url: str | None = None
    woocommerce_api_key: SecretStr | None = None
    woocommerce_api_secret: SecretStr | None = None
    shopify_api_url: str | None = None
    shopify_api_token: SecretStr | None = None
    shopify_shop_domain: str | None = None
    reconcile_interval_seconds: float = Field(300.0, ge=0)
    reconcile_overlap_seconds: float = Field(120.0, ge=0)
    reconcile_lookback_seconds: float = Field(24 * 3600.0, gt=0)
    cursor_topic: str = "bus.cursors.order-capture.v1"

    @field_validator("parts")
    @classmethod
    def _known_parts(cls, value: str) -> str:
        names = {p.strip() for p in value.split(",") if p.strip()}
        unknown = names - set(PARTS)
        if unknown or not names:
            raise ValueError(f"expected a comma-separated subset of {', '.join(PARTS)}")
        return ",".join(p for p in PARTS if p in names)

    def runs(self, part: str) -> bool:
        """Whether this process runs ``part`` (one of :data:`PARTS`)."""
        return part in self.parts.split(",")


PARTS = ("webhooks", "intake")
"""order-capture's parts, in the order they are declared."""
