"""Per-route metrics of the router, on an injected registry (never the global one).

Series (counters are exposed with ``_total``)::

    ecombus_router_messages_in_total{route}                    inputs that entered the route
    ecombus_router_messages_out_total{route, endpoint}         messages delivered to an endpoint
    ecombus_router_messages_filtered_total{route, step}        messages a step dropped
    ecombus_router_failures_total{route, step, kind}           failed attempts (transient/permanent)
    ecombus_router_dead_letters_total{route, step}             inputs sent to dlq.router
    ecombus_router_step_duration_seconds{route, step}          time in one step, per message

The service-wide runtime metrics (``ecombus_messages_*``, lag, HTTP client) sit beside these.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

STEP_BUCKETS = (0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)
"""Steps run in microseconds (filter, map) to seconds (an HTTP enrich)."""


class RouterMetrics:
    """The router's per-route series; label children are cached for the hot path."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.messages_in = Counter("ecombus_router_messages_in", "Inputs that entered a route.",
                                   ["route"], registry=r)
        self.messages_out = Counter("ecombus_router_messages_out", "Messages delivered to an endpoint.",
                                    ["route", "endpoint"], registry=r)
        self.filtered = Counter("ecombus_router_messages_filtered", "Messages a step dropped.",
                                ["route", "step"], registry=r)
        self.failures = Counter("ecombus_router_failures", "Failed attempts, by kind.",
                                ["route", "step", "kind"], registry=r)
        self.dead_letters = Counter("ecombus_router_dead_letters", "Inputs dead-lettered to dlq.router.",
                                    ["route", "step"], registry=r)
        self.step_seconds = Histogram("ecombus_router_step_duration_seconds",
                                      "Time one step took on one message.", ["route", "step"],
                                      buckets=STEP_BUCKETS, registry=r)
        self._children: dict[tuple[str, ...], Any] = {}

    def child(self, metric: str, *labels: str) -> Any:
        """The cached labelled child of one of the metrics above."""
        key = (metric, *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = getattr(self, metric).labels(*labels)
        return found
