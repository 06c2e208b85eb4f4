"""Settings of crm-updater. Environment prefix ``ECOMBUS_CRM_``.

The runtime's own settings (``ECOMBUS_BATCH_SIZE``, ``ECOMBUS_RETRY_*``...) still apply;
crm-updater always runs exactly-once, whatever ``ECOMBUS_EXACTLY_ONCE`` says (see
:mod:`services.crm_updater`).
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class CrmUpdaterSettings(BaseSettings):
    """Topics, the CRM API and its limits.

    Attributes:
        orders_topic / profiles_topic: what it consumes (``ECOMBUS_CRM_ORDERS_TOPIC``, ...).
        refunds_topic / cancellations_topic: after the sale, what it nets from the figures.
        changelog_topic: its state per customer, compacted; read whole on start.
        outbox_topic: contacts waiting for the batch upsert; the flusher's committed offsets
            are its progress.
        api_url: base URL of the HubSpot-like API (``ECOMBUS_CRM_API_URL``).
        api_token: private-app token sent as ``Authorization: Bearer`` (``ECOMBUS_CRM_API_TOKEN``).
        batch_size: contacts per upsert request (HubSpot accepts at most 100).
        batch_linger_seconds: how long the first waiting contact waits for others.
        rate_limit_requests / rate_limit_interval_seconds: the API's rolling limit (HubSpot:
            100 or more per 10 s, by plan); the flusher stays under it.
        retry_budget_seconds: how long a batch is retried on 429/5xx/timeouts before its
            contacts are dead-lettered as transient failures (``ecombus dlq replay`` resends).
        request_timeout_seconds: per HTTP request.
        restore_timeout_seconds: reading the changelog on start must finish within this.
    """

    model_config = SettingsConfigDict(env_prefix="ECOMBUS_CRM_", frozen=True, extra="ignore")

    orders_topic: str = "orders.placed.v1"
    profiles_topic: str = "customers.profiles.v1"
    refunds_topic: str = "orders.refunds.v1"
    cancellations_topic: str = "orders.cancellations.v1"
    changelog_topic: str = "crm-updater.customers.changelog"
    outbox_topic: str = "crm-updater.contacts.outbox"
    api_url: str = "http://127.0.0.1:8086"
    api_token: SecretStr | None = None
    batch_size: int = Field(100, ge=1, le=100)
    batch_linger_seconds: float = Field(1.0, ge=0)
    rate_limit_requests: int = Field(100, ge=1)
    rate_limit_interval_seconds: float = Field(10.0, gt=0)
    retry_budget_seconds: float = Field(300.0, gt=0)
    request_timeout_seconds: float = Field(10.0, gt=0)
    restore_timeout_seconds: float = Field(120.0, gt=0)
