"""Entry point of shipping-tracker: ``ecombus run shipping-tracker``.

Reads ``KAFKA_*``, ``SCHEMA_REGISTRY_*``, ``ECOMBUS_*`` (runtime), ``ECOMBUS_SHIPPING_TRACKER_*``
and the carrier webhook secrets; serves the webhooks on :8082 and ``/metrics`` ``/healthz``
``/readyz`` on :9104; stops cleanly on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

from bus.runtime.service import run_until_signalled
from bus.settings import KafkaSettings, load
from services.shipping_tracker.handlers import SERVICE
from services.shipping_tracker.settings import ShippingTrackerSettings
from services.shipping_tracker.wiring import build


def run() -> None:
    """Run shipping-tracker until SIGTERM or SIGINT."""
    settings = load(ShippingTrackerSettings)
    run_until_signalled(SERVICE, settings.log_level, lambda: build(settings, load(KafkaSettings)))


if __name__ == "__main__":
    run()
