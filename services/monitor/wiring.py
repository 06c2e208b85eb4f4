"""Builds the monitor from its settings: admin client, reader, exporter, health, admin server.

Nothing here talks to the network; :meth:`Monitor.run` does.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka.admin import AdminClient
from prometheus_client import CollectorRegistry

from bus.assembly import Assembly, ServiceDefinition
from bus.observability.admin_server import AdminServer, admin_address
from bus.observability.health import Health
from bus.observability.lag import LagReport, measure_lag
from bus.observability.metrics import RuntimeMetrics
from bus.observability.oldest_message import OldestMessageReader
from bus.settings import KafkaSettings, load
from services.monitor import SERVICE
from services.monitor.handlers import LagExporter
from services.monitor.settings import MonitorSettings

log = logging.getLogger(__name__)


@dataclass
class Monitor:
    """The wired monitor: call :meth:`run` with an event that stops it."""

    settings: MonitorSettings
    measure: Callable[[], LagReport]
    exporter: LagExporter
    metrics: RuntimeMetrics
    health: Health
    server: AdminServer

    def run(self, stop: threading.Event) -> None:
        """Serve the admin endpoints and measure every ``interval_seconds`` until ``stop`` is set."""
        self.server.start()
        self.metrics.mark_up()
        log.info("measuring the lag of consumer groups %r%s every %gs", self.settings.group_prefix + "*",
                 f" and {', '.join(self.settings.groups)}" if self.settings.groups else "",
                 self.settings.interval_seconds)
        try:
            while not stop.is_set():
                self.exporter.poll(self.measure)
                self.health.beat()
                stop.wait(self.settings.interval_seconds)
        finally:
            self.metrics.mark_down()
            self.server.stop()
            log.info("stopped")


def build(
    settings: MonitorSettings,
    kafka: KafkaSettings,
    registry: CollectorRegistry | None = None,
    address: tuple[str, int] | None = None,
) -> Monitor:
    """Wire a monitor.

    Args:
        settings: the monitor's settings.
        kafka: how to reach the cluster.
        registry: where the metrics go (a fresh one by default).
        address: (host, port) of the admin server; by default :func:`admin_address` (9106, or
            ``ECOMBUS_ADMIN_HOST`` / ``ECOMBUS_ADMIN_PORT``).
    """
    registry = registry if registry is not None else CollectorRegistry()
    timeout = settings.request_timeout_seconds
    reader = OldestMessageReader(kafka.client_config(), timeout=timeout,
                                 isolation_level=settings.isolation_level)
    measure = functools.partial(
        measure_lag, AdminClient(dict(kafka.client_config())), reader,
        prefix=settings.group_prefix or None, groups=settings.groups, timeout=timeout,
    )
    exporter = LagExporter(registry)
    # A measurement makes about seven bounded admin round trips; the loop is stuck only beyond that.
    health = Health(stale_after=settings.interval_seconds + 10 * (timeout + 5))
    health.add_check("broker_reachable", lambda: exporter.last_ok)
    host, port = address or admin_address(SERVICE)
    return Monitor(settings, measure, exporter, RuntimeMetrics(SERVICE, registry), health,
                   AdminServer(registry, health, host=host, port=port))


def assemble(assembly: Assembly) -> None:
    """Declare the service's parts from the environment (nothing connects until it runs)."""
    assembly.add(SERVICE, build(load(MonitorSettings), load(KafkaSettings)))


DEFINITION = ServiceDefinition(SERVICE, assemble)
"""What ``ecombus run monitor`` runs (:func:`bus.assembly.run_service`)."""
