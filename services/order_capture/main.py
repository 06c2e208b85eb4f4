"""Entry point of order-capture: ``ecombus run order-capture``.

Reads ``KAFKA_*``, ``SCHEMA_REGISTRY_*``, ``ECOMBUS_ORDER_CAPTURE_*`` and the webhook secrets;
serves the webhooks on :8080 and ``/metrics`` ``/healthz`` ``/readyz`` on :9101; stops cleanly
(in-flight webhooks answered, producer flushed) on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

from bus.runtime.service import run_until_signalled
from bus.settings import KafkaSettings, load
from services.order_capture.settings import OrderCaptureSettings
from services.order_capture.wiring import SERVICE, build


def run() -> None:
    """Run order-capture until SIGTERM or SIGINT."""
    settings = load(OrderCaptureSettings)
    run_until_signalled(SERVICE, settings.log_level, lambda: build(settings, load(KafkaSettings)))


if __name__ == "__main__":
    run()
