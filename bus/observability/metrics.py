"""Prometheus metrics shared by every ecombus service.

Every metric is created on an *injected* :class:`prometheus_client.CollectorRegistry`, never the
global default one, so tests assert with ``registry.get_sample_value(...)`` and two services in
one process (tests, ``ecombus up``) never collide.

Naming follows Prometheus conventions and passes ``promtool check metrics``: the ``ecombus_``
prefix, base units (``_seconds``), ``_total`` on counters (prometheus_client appends it to the
exposed name; the attribute is declared without it). Labels are always given in the order
documented on each attribute.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PREFIX = "ecombus_"

PROCESSING_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)
"""Handler duration: a millisecond to a minute (a retry budget can reach tens of seconds)."""

END_TO_END_BUCKETS: tuple[float, ...] = (
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
)
"""``occurred_at`` to handled: ten milliseconds to an hour (a backlog after an outage)."""

HTTP_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)
"""Outbound HTTP calls: storefront, CRM, carrier and ERP APIs."""

PROCESSED_OUTCOMES = ("ok", "dead_lettered", "duplicate", "skipped")
FAILURE_KINDS = ("transient", "permanent")


class RuntimeMetrics:
    """The metrics the consumer/producer runtime and HTTP edges update, for one service.

    Every attribute is a prometheus_client metric; call ``.labels(...)`` with the labels in the
    order listed. ``service`` is not pre-bound so the label sets stay explicit at call sites.

    Attributes:
        consumed: Counter ``ecombus_messages_consumed_total`` [service, topic].
        processed: Counter ``ecombus_messages_processed_total`` [service, topic, handler, outcome];
            outcome is one of ``ok``, ``dead_lettered``, ``duplicate``, ``skipped``.
        failures: Counter ``ecombus_handler_failures_total`` [service, topic, handler, kind];
            kind is ``transient`` or ``permanent``; counted once per failed attempt.
        retries: Counter ``ecombus_handler_retries_total`` [service, topic, handler].
        dead_lettered: Counter ``ecombus_dead_letters_total`` [service, topic, handler, kind].
        duplicates: Counter ``ecombus_duplicates_total`` [service, handler].
        processing_seconds: Histogram ``ecombus_processing_duration_seconds`` [service, handler].
        end_to_end_seconds: Histogram ``ecombus_end_to_end_latency_seconds`` [service, topic],
            from the event's ``occurred_at`` to the end of handling.
        produced: Counter ``ecombus_messages_produced_total`` [service, topic] (acknowledged).
        delivery_failures: Counter ``ecombus_producer_delivery_failures_total`` [service, topic].
        http_requests: Counter ``ecombus_http_client_requests_total`` [service, target, outcome].
        http_seconds: Histogram ``ecombus_http_client_request_duration_seconds`` [service, target].
        webhooks: Counter ``ecombus_webhook_requests_total`` [service, platform, outcome].
        in_flight: Gauge ``ecombus_messages_in_flight`` [service].
        up: Gauge ``ecombus_service_up`` [service]; 1 while the processing loop runs.
    """

    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        """Create the metrics on ``registry``.

        Args:
            service: the service name, e.g. ``order-capture``; used as the ``service`` label
                value by :meth:`mark_up` / :meth:`mark_down`.
            registry: where the metrics are registered; one RuntimeMetrics per registry.
        """
        self.service = service
        self.registry = registry
        r = registry
        self.consumed = Counter(
            "ecombus_messages_consumed", "Records read from Kafka.", ["service", "topic"], registry=r
        )
        self.processed = Counter(
            "ecombus_messages_processed",
            "Records whose handling finished, by outcome (ok, dead_lettered, duplicate, skipped).",
            ["service", "topic", "handler", "outcome"],
            registry=r,
        )
        self.failures = Counter(
            "ecombus_handler_failures",
            "Failed handler attempts, by kind (transient, permanent).",
            ["service", "topic", "handler", "kind"],
            registry=r,
        )
        self.retries = Counter(
            "ecombus_handler_retries", "Handler attempts retried after a transient failure.",
            ["service", "topic", "handler"], registry=r,
        )
        self.dead_lettered = Counter(
            "ecombus_dead_letters", "Records written to the service's DLQ topic.",
            ["service", "topic", "handler", "kind"], registry=r,
        )
        self.duplicates = Counter(
            "ecombus_duplicates", "Records skipped because their event_id was already handled.",
            ["service", "handler"], registry=r,
        )
        self.processing_seconds = Histogram(
            "ecombus_processing_duration_seconds", "Handler duration including retries.",
            ["service", "handler"], buckets=PROCESSING_BUCKETS, registry=r,
        )
        self.end_to_end_seconds = Histogram(
            "ecombus_end_to_end_latency_seconds",
            "Time from the event's occurred_at to the end of its handling.",
            ["service", "topic"], buckets=END_TO_END_BUCKETS, registry=r,
        )
        self.produced = Counter(
            "ecombus_messages_produced", "Records acknowledged by the broker.",
            ["service", "topic"], registry=r,
        )
        self.delivery_failures = Counter(
            "ecombus_producer_delivery_failures", "Records the broker did not acknowledge.",
            ["service", "topic"], registry=r,
        )
        self.http_requests = Counter(
            "ecombus_http_client_requests", "Outbound HTTP requests, by outcome.",
            ["service", "target", "outcome"], registry=r,
        )
        self.http_seconds = Histogram(
            "ecombus_http_client_request_duration_seconds", "Outbound HTTP request duration.",
            ["service", "target"], buckets=HTTP_BUCKETS, registry=r,
        )
        self.webhooks = Counter(
            "ecombus_webhook_requests", "Inbound webhook requests, by platform and outcome.",
            ["service", "platform", "outcome"], registry=r,
        )
        self.in_flight = Gauge(
            "ecombus_messages_in_flight", "Records read but not yet finished.", ["service"], registry=r
        )
        self.up = Gauge(
            "ecombus_service_up", "1 while the service's processing loop runs.", ["service"], registry=r
        )

    def mark_up(self) -> None:
        """Set ``ecombus_service_up{service}`` to 1 (call when the loop starts)."""
        self.up.labels(self.service).set(1)

    def mark_down(self) -> None:
        """Set ``ecombus_service_up{service}`` to 0 (call when the loop stops)."""
        self.up.labels(self.service).set(0)
