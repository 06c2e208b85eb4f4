"""Per-route metrics of the router, on an injected registry (never the global one).

Series (counters are exposed with ``_total``)::

    ecombus_router_messages_in_total{route}                    inputs that entered the route
    ecombus_router_messages_out_total{route, endpoint}         messages delivered to an endpoint
    ecombus_router_messages_filtered_total{route, step}        messages a step dropped
    ecombus_router_failures_total{route, step, kind}           failed attempts (transient/permanent)
    ecombus_router_dead_letters_total{route, step}             inputs sent to dlq.router
    ecombus_router_step_duration_seconds{route, step}          time in one step, per message
    ecombus_router_files_total{route, outcome}                 files a file_in route finished:
                                                               done, unreadable or failed (both in error/)

They are updated on the hot path (several times per message), so they are kept as plain
numbers under one lock and exposed by a custom collector, rather than as prometheus_client
metric objects (whose per-call bookkeeping costs several microseconds). The service-wide
runtime metrics (``ecombus_messages_*``, lag, HTTP client) sit beside these.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

STEP_BUCKETS = (0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)
"""Steps run in microseconds (filter, map) to seconds (an HTTP enrich)."""

COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "messages_in": ("Inputs that entered a route.", ("route",)),
    "messages_out": ("Messages delivered to an endpoint.", ("route", "endpoint")),
    "filtered": ("Messages a step dropped.", ("route", "step")),
    "failures": ("Failed attempts, by kind.", ("route", "step", "kind")),
    "dead_letters": ("Inputs dead-lettered to dlq.router.", ("route", "step")),
    "files": ("Files a file_in route finished, by outcome (done, unreadable, failed).", ("route", "outcome")),
}
_NAMES = {"messages_in": "messages_in", "messages_out": "messages_out",
          "filtered": "messages_filtered", "failures": "failures", "dead_letters": "dead_letters",
          "files": "files"}


class _Count:
    __slots__ = ("_lock", "value")

    def __init__(self, lock: threading.Lock) -> None:
        self._lock, self.value = lock, 0.0

    def inc(self, amount: float = 1.0) -> None:
        with self._lock:
            self.value += amount


class _Timing:
    __slots__ = ("_lock", "buckets", "count", "sum")

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self.buckets = [0] * (len(STEP_BUCKETS) + 1)
        self.count, self.sum = 0, 0.0

    def observe(self, seconds: float) -> None:
        with self._lock:
            self.buckets[bisect_left(STEP_BUCKETS, seconds)] += 1
            self.count += 1
            self.sum += seconds


class RouterMetrics:
    """The router's per-route series, registered on ``registry``.

    :meth:`child` returns the series of one label set (``.inc()`` for counters, ``.observe()``
    for ``step_seconds``), created on first use and cached.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, ...], Any] = {}
        registry.register(self)

    def child(self, metric: str, *labels: str) -> Any:
        """The series of ``metric`` (a key of :data:`COUNTERS`, or ``step_seconds``) for ``labels``."""
        key = (metric, *labels)
        found = self._series.get(key)
        if found is None:
            found = _Timing(self._lock) if metric == "step_seconds" else _Count(self._lock)
            self._series.setdefault(key, found)
            found = self._series[key]
        return found

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counts = {k: s.value for k, s in self._series.items() if isinstance(s, _Count)}
            timings = {k: (list(s.buckets), s.sum) for k, s in self._series.items() if isinstance(s, _Timing)}
        for metric, (doc, labels) in COUNTERS.items():
            family = CounterMetricFamily(f"ecombus_router_{_NAMES[metric]}", doc, labels=list(labels))
            for key, value in counts.items():
                if key[0] == metric:
                    family.add_metric(list(key[1:]), value)
            yield family
        timing = HistogramMetricFamily("ecombus_router_step_duration_seconds",
                                       "Time one step took on one message.", labels=["route", "step"])
        for key, (buckets, total) in timings.items():
            if key[0] == "step_seconds":
                cumulative, running = [], 0
                for bound, hits in zip((*map(str, STEP_BUCKETS), "+Inf"), buckets, strict=True):
                    running += hits
                    cumulative.append((bound, running))
                timing.add_metric(list(key[1:]), cumulative, total)
        yield timing

    def describe(self) -> list[Metric]:
        """Nothing, so the registry does not call :meth:`collect` at registration."""
        return []
