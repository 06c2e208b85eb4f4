"""Publishing lag measurements as Prometheus gauges.

Series (all gauges; ``partition`` is the partition number as a string):

* ``ecombus_consumergroup_lag{group, topic, partition}``: messages not yet consumed.
* ``ecombus_consumergroup_lag_seconds{group, topic, partition}``: age of the oldest of them.
* ``ecombus_consumergroup_members{group}``: consumers in the group (0 when all died).

plus the health of the measurement itself: ``ecombus_lag_scrape_duration_seconds`` (histogram),
``ecombus_lag_scrapes_total{outcome}`` (``ok`` / ``error``), ``ecombus_lag_scrape_errors_total
{group, stage}`` (``offsets``: the group could not be read; ``timestamp``: a message age could
not be read) and ``ecombus_lag_last_success_timestamp_seconds``.

Series of partitions and groups that disappeared are removed. A group that could not be read
this time keeps its previous series (a hole in the graph would look like recovery), and an age
that could not be read keeps its previous value (0 the first time), counted as an error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bus.errors import BusError
from bus.observability.lag import LagReport

log = logging.getLogger(__name__)

Series = tuple[str, str]
"""(topic, partition) label values."""


class LagExporter:
    """Turns :class:`~bus.observability.lag.LagReport` s into gauges on ``registry``."""

    def __init__(self, registry: CollectorRegistry, clock: Callable[[], float] = time.time) -> None:
        labels = ["group", "topic", "partition"]
        self.lag = Gauge("ecombus_consumergroup_lag", "Messages the group has not consumed yet.",
                         labels, registry=registry)
        self.lag_seconds = Gauge("ecombus_consumergroup_lag_seconds",
                                 "Age of the oldest message the group has not consumed yet.",
                                 labels, registry=registry)
        self.members = Gauge("ecombus_consumergroup_members", "Consumers in the group.", ["group"],
                             registry=registry)
        self.scrape_seconds = Histogram("ecombus_lag_scrape_duration_seconds",
                                        "Time to measure the lag of every group.", registry=registry,
                                        buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.scrapes = Counter("ecombus_lag_scrapes", "Lag measurements, by outcome.", ["outcome"],
                               registry=registry)
        self.errors = Counter("ecombus_lag_scrape_errors",
                              "Groups or partitions that could not be measured, by stage.",
                              ["group", "stage"], registry=registry)
        self.last_success = Gauge("ecombus_lag_last_success_timestamp_seconds",
                                  "When the lag was last measured successfully.", registry=registry)
        self.registry = registry
        self._clock = clock
        self._series: dict[str, set[Series]] = {}
        self.last_ok = False

    def poll(self, measure: Callable[[], LagReport]) -> bool:
        """Measure once and publish; returns whether the measurement succeeded.

        A :class:`~bus.errors.BusError` (cluster unreachable) is logged and counted, never raised:
        the loop carries on and the previous values stay exported.
        """
        started = time.monotonic()
        try:
            report = measure()
        except BusError as exc:
            log.warning("lag measurement failed: %s", exc)
            self.scrapes.labels("error").inc()
            self.last_ok = False
            return False
        finally:
            self.scrape_seconds.observe(time.monotonic() - started)
        self.publish(report)
        self.scrapes.labels("ok").inc()
        self.last_success.set(self._clock())
        self.last_ok = True
        return True

    def publish(self, report: LagReport) -> None:
        """Set the gauges from ``report`` and drop the series that no longer exist."""
        for failed in report.failed:
            self.errors.labels(failed, "offsets").inc()
        seen: dict[str, set[Series]] = {g: self._series.get(g, set()) for g in report.failed}
        for measured in report.groups:
            self.members.labels(measured.group).set(measured.members)
            series = seen.setdefault(measured.group, set())
            for row in measured.partitions:
                labels = (measured.group, row.topic, str(row.partition))
                self.lag.labels(*labels).set(row.lag)
                if row.lag_seconds is not None:
                    self.lag_seconds.labels(*labels).set(row.lag_seconds)
                else:
                    self.lag_seconds.labels(*labels)  # keeps the previous value; 0 when new
                    self.errors.labels(measured.group, "timestamp").inc()
                series.add(labels[1:])
        for gone_group, old in self._series.items():
            for topic, partition in old - seen.get(gone_group, set()):
                self.lag.remove(gone_group, topic, partition)
                self.lag_seconds.remove(gone_group, topic, partition)
            if gone_group not in seen:
                self.members.remove(gone_group)
        self._series = seen
