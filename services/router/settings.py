"""Settings of the router. Environment prefix ``ECOMBUS_ROUTER_``.

The runtime's own tuning (``ECOMBUS_BATCH_SIZE``, ``ECOMBUS_EXACTLY_ONCE``, retries...) is read
by :class:`bus.runtime.service.RuntimeSettings` as for every service; Kafka and the registry by
``KAFKA_*`` and ``SCHEMA_REGISTRY_*``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.router.routes import DEFAULT_ROUTES_FILE


class RouterSettings(BaseSettings):
    """Where the routes are, where the router keeps state, where it listens.

    Attributes:
        routes_file: the routes YAML (``ECOMBUS_ROUTER_ROUTES_FILE``; default deploy/routes.yaml).
        state_dir: durable local state: batch spools, aggregates (``ECOMBUS_ROUTER_STATE_DIR``).
        http_host / http_port: the server of ``http_in`` routes (default 0.0.0.0:8084).
        topics: logical → actual topic names, as JSON (``{"orders.placed.v1": "staging.orders"}``).
        tick_seconds: how often batch windows and aggregate windows are checked.
    """

    model_config = SettingsConfigDict(env_prefix="ECOMBUS_ROUTER_", frozen=True, extra="ignore")

    routes_file: Path = DEFAULT_ROUTES_FILE
    state_dir: Path = Path("var/router")
    http_host: str = "0.0.0.0"
    http_port: int = Field(8084, ge=0, le=65535)
    topics: dict[str, str] = Field(default_factory=dict)
    tick_seconds: float = Field(0.5, gt=0)
