"""Entry point of crm-updater: ``ecombus run crm-updater`` (or ``python -m services.crm_updater.main``).

Reads ``KAFKA_*``, ``SCHEMA_REGISTRY_*``, ``ECOMBUS_*`` and ``ECOMBUS_CRM_*`` settings, logs JSON
lines on stderr, serves ``/metrics``, ``/healthz`` and ``/readyz`` on :9103, and stops cleanly on
SIGTERM or Ctrl-C (the flusher sends what waits and commits first).
"""

from __future__ import annotations

from bus.observability.logging import configure_logging
from bus.runtime.service import RuntimeSettings
from bus.settings import KafkaSettings, load
from services.crm_updater.settings import CrmUpdaterSettings
from services.crm_updater.wiring import SERVICE, build


def run() -> None:
    """Run crm-updater until SIGTERM or SIGINT."""
    runtime = load(RuntimeSettings)
    configure_logging(SERVICE, runtime.log_level)
    build(load(CrmUpdaterSettings), runtime, load(KafkaSettings)).run()


if __name__ == "__main__":
    run()
