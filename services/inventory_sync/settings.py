"""Settings of inventory-sync. Environment prefix ``ECOMBUS_INVENTORY_``.

The runtime's own settings (``ECOMBUS_BATCH_SIZE``, ``ECOMBUS_RETRY_*``...) still apply;
inventory-sync always runs exactly-once, whatever ``ECOMBUS_EXACTLY_ONCE`` says (see
:mod:`services.inventory_sync`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus.topics import REPO_ROOT


class InventorySyncSettings(BaseSettings):
    """Topics, the storefront inventory API and its limits, the SKU map.

    Attributes:
        orders_topic / levels_topic: what it consumes (``ECOMBUS_INVENTORY_ORDERS_TOPIC``, ...);
            it also writes the net sellable level back to ``levels_topic``.
        cancellations_topic / refunds_topic / returns_topic: after the sale, what gives units back.
        reservations_topic / status_topic: where decisions go.
        changelog_topic: its state per SKU, compacted; read whole on start.
        ledger_topic: each decided order's after-sale ledger, compacted; read whole on start.
        sku_map: CSV ``sku,inventory_item_id`` (``ECOMBUS_INVENTORY_SKU_MAP``; the project's
            ``deploy/sku-map.csv`` by default).
        locations: ERP location code → storefront location id, as JSON
            (``ECOMBUS_INVENTORY_LOCATIONS='{"TOKYO-1": 655441491}'``).
        settle_seconds: how long after an order reaches the bus an ERP count is assumed to
            include it (the hold is then dropped).
        park_seconds: how long an order naming a SKU without any level yet waits for one before
            it is decided anyway (unknown lines out of stock).
        storefront_url / storefront_token: the Shopify-like admin API and its access token.
        bucket_capacity / leak_per_second: the API's leaky bucket (Shopify: 40 and 2/s).
        push_linger_seconds: how long the first changed SKU waits for more changes to the same
            SKUs before the pusher sends, so bursts collapse to their latest value.
        push_retry_budget_seconds: how long one push is retried on 429/5xx/timeouts before it is
            dead-lettered as a transient failure (``ecombus dlq replay`` pushes the current value).
        request_timeout_seconds: per HTTP request.
        restore_timeout_seconds: reading the state back on start must finish within this.
    """

    model_config = SettingsConfigDict(env_prefix="ECOMBUS_INVENTORY_", frozen=True, extra="ignore")

    orders_topic: str = "orders.placed.v1"
    levels_topic: str = "inventory.levels.v1"
    cancellations_topic: str = "orders.cancellations.v1"
    refunds_topic: str = "orders.refunds.v1"
    returns_topic: str = "orders.returns.v1"
    reservations_topic: str = "inventory.reservations.v1"
    status_topic: str = "orders.status.v1"
    changelog_topic: str = "inventory-sync.stock.changelog"
    ledger_topic: str = "inventory-sync.orders.changelog"
    sku_map: Path = REPO_ROOT / "deploy" / "sku-map.csv"
    locations: dict[str, int] = Field(default_factory=lambda: {"TOKYO-1": 655441491, "LA-1": 655441492})
    settle_seconds: float = Field(900.0, ge=0)
    park_seconds: float = Field(60.0, ge=0)
    storefront_url: str = "http://127.0.0.1:8090"
    storefront_token: SecretStr | None = None
    bucket_capacity: int = Field(40, ge=1)
    leak_per_second: float = Field(2.0, gt=0)
    push_linger_seconds: float = Field(0.5, ge=0)
    push_retry_budget_seconds: float = Field(120.0, gt=0)
    request_timeout_seconds: float = Field(10.0, gt=0)
    restore_timeout_seconds: float = Field(120.0, gt=0)
