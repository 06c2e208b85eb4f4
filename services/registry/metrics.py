"""Prometheus metrics of the registry, on an injected CollectorRegistry.

Names (all ``ecombus_registry_``-prefixed, base units, ``_total`` on counters):

- ``ecombus_registry_requests_total`` [method, route, status]: HTTP requests answered; ``route``
  is the route template (``/subjects/{subject}/versions``), never the raw path.
- ``ecombus_registry_request_duration_seconds`` [method, route]: time to answer.
- ``ecombus_registry_schemas``: schema ids known; ``ecombus_registry_subjects``: live subjects.
- ``ecombus_registry_log_offset``: offset of the last log record applied (-1 before any).
- ``ecombus_registry_ready``: 1 when the store is caught up and the log reachable, else 0.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.registry.store import SchemaStore

PREFIX = "ecombus_registry_"
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _StoreCollector(Collector):
    """Reads the gauges from the store at scrape time, so they are never stale."""

    def __init__(self, store: SchemaStore) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        schemas, subjects = self.store.state.counts()
        yield GaugeMetricFamily(f"{PREFIX}schemas", "Schema ids known to the registry.", value=schemas)
        yield GaugeMetricFamily(f"{PREFIX}subjects", "Subjects with at least one live version.",
                                value=subjects)
        yield GaugeMetricFamily(f"{PREFIX}log_offset", "Offset of the last registry log record applied.",
                                value=self.store.state.offset)
        yield GaugeMetricFamily(f"{PREFIX}ready", "1 if the store is caught up and its log reachable.",
                                value=1.0 if self.store.ready()[0] else 0.0)


class RegistryMetrics:
    """The registry's metrics, registered on ``registry``.

    Attributes:
        requests: Counter ``ecombus_registry_requests_total`` [method, route, status].
        seconds: Histogram ``ecombus_registry_request_duration_seconds`` [method, route].
    """

    def __init__(self, registry: CollectorRegistry, store: SchemaStore) -> None:
        self.registry = registry
        self.requests = Counter(f"{PREFIX}requests", "HTTP requests answered by the registry.",
                                ["method", "route", "status"], registry=registry)
        self.seconds = Histogram(f"{PREFIX}request_duration_seconds", "Time to answer an HTTP request.",
                                 ["method", "route"], registry=registry, buckets=BUCKETS)
        registry.register(_StoreCollector(store))
