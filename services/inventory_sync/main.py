"""Entry point: ``ecombus run inventory-sync`` (or ``python -m services.inventory_sync.main``).

Reads ``KAFKA_*``, ``SCHEMA_REGISTRY_*``, ``ECOMBUS_*`` and ``ECOMBUS_INVENTORY_*`` settings, logs
JSON lines on stderr, serves ``/metrics``, ``/healthz`` and ``/readyz`` on :9102, and stops
cleanly on SIGTERM or Ctrl-C (the pusher sends what waits and commits first).
"""

from __future__ import annotations

from bus.observability.logging import configure_logging
from bus.runtime.service import RuntimeSettings
from bus.settings import KafkaSettings, load
from services.inventory_sync.settings import InventorySyncSettings
from services.inventory_sync.wiring import SERVICE, build


def run() -> None:
    """Run inventory-sync until SIGTERM or SIGINT."""
    runtime = load(RuntimeSettings)
    configure_logging(SERVICE, runtime.log_level)
    build(load(InventorySyncSettings), runtime, load(KafkaSettings)).run()


if __name__ == "__main__":
    run()
