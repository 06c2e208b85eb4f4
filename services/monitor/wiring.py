"""Declares the monitor on its :class:`~bus.assembly.Assembly`: one measuring loop.

The lag gauges go to the assembly's registry and the readiness check ``broker_reachable`` to its
health; the assembly serves both on the admin port (9106). Nothing here talks to the network;
:meth:`Monitor.run` does.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka.admin import AdminClient

from bus.assembly import Assembly, ServiceDefinition
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
    """The measuring loop, a part of the monitor's assembly.

    Attributes:
        settings: the monitor's settings (``interval_seconds``, the groups).
        measure: one measurement of every group's lag.
        exporter: publishes a measurement as gauges (``last_ok`` after each).
        metrics: the runtime's series (``ecombus_service_up``).
        health: beaten after every measurement (liveness).
    """

    settings: MonitorSettings
    measure: Callable[[], LagReport]
    exporter: LagExporter
    metrics: RuntimeMetrics
    health: Health

    def run(self, stop: threading.Event) -> None:
        """Measure every ``interval_seconds`` until ``stop`` is set; up (1) meanwhile, down (0) after."""
        self.metrics.mark_up()
        log.info("measuring the lag of consumer groups %r%s every %gs", self.settings.group_prefix + "*",
                 f" and {', '.join(self.settings.groups)}" if self.settings.groups else "",
                 self.settings.interval_seconds)
        try:
            while not stop.is_set():
                self.exporter.poll(self.measure)
                self.health.beat("measurements")
                stop.wait(self.settings.interval_seconds)
        finally:
            self.metrics.mark_down()
            log.info("stopped")


def build(assembly: Assembly, settings: MonitorSettings, kafka: KafkaSettings) -> Monitor:
    """Declare the measuring loop (part ``lag``) on ``assembly``, its gauges and readiness on its own.

    Liveness allows a whole measurement: ``assembly.health.stale_after`` is the interval plus ten
    bounded admin round trips. Readiness (``broker_reachable``) holds once the last measurement
    got its answers from the cluster.

    Args:
        assembly: where the part goes; its registry, metrics and health are the monitor's.
        settings: the monitor's settings.
        kafka: how to reach the cluster.

    Returns:
        The :class:`Monitor` (its exporter, for tests).
    """
    timeout = settings.request_timeout_seconds
    reader = OldestMessageReader(kafka.client_config(), timeout=timeout,
                                 isolation_level=settings.isolation_level)
    measure = functools.partial(
        measure_lag, AdminClient(dict(kafka.client_config())), reader,
        prefix=settings.group_prefix or None, groups=settings.groups, timeout=timeout,
    )
    exporter = LagExporter(assembly.registry)
    # A measurement makes about seven bounded admin round trips; the loop is stuck only beyond that.
    assembly.health.stale_after = settings.interval_seconds + 10 * (timeout + 5)
    assembly.health.add_check("broker_reachable", lambda: exporter.last_ok)
    monitor = Monitor(settings, measure, exporter, assembly.metrics, assembly.health)
    assembly.add("lag", monitor)
    return monitor


def assemble(assembly: Assembly) -> None:
    """Declare the monitor from the environment (nothing connects until the assembly runs)."""
    build(assembly, load(MonitorSettings), load(KafkaSettings))


DEFINITION = ServiceDefinition(SERVICE, assemble)
"""What ``ecombus run monitor`` runs (:func:`bus.assembly.run_service`)."""
