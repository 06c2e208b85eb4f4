"""Entry point of the monitor: ``ecombus run monitor`` (or ``python -m services.monitor.main``).

Reads ``KAFKA_*`` and ``ECOMBUS_MONITOR_*`` settings, logs JSON lines on stderr, serves
``/metrics``, ``/healthz`` and ``/readyz`` on :9106 and stops cleanly on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

from bus.runtime.service import run_until_signalled
from bus.settings import KafkaSettings, load
from services.monitor.settings import MonitorSettings
from services.monitor.wiring import SERVICE, build


def run() -> None:
    """Run the monitor until SIGTERM or SIGINT."""
    settings = load(MonitorSettings)
    run_until_signalled(SERVICE, settings.log_level, lambda: build(settings, load(KafkaSettings)))


if __name__ == "__main__":
    run()
