"""What the consumer loop reports as it works: metrics, liveness, audit records and logs.

The loop calls these hooks and knows nothing of Prometheus or the audit topic; every
collaborator is optional, so a unit test can run the loop with none of them.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

from confluent_kafka import KafkaError

from bus.runtime.handlers import Consumed

if TYPE_CHECKING:
    from bus.observability.metrics import RuntimeMetrics
    from bus.runtime.audit import AuditTrail
    from bus.runtime.dlq import Failure
    from bus.runtime.handlers import Context, HandlerSpec

log = logging.getLogger("ecombus.runtime")


class Heartbeat(Protocol):
    def beat(self, part: str = ...) -> None: ...


class RuntimeHooks:
    """Fan the loop's events out to metrics, health, audit and logs.

    Args:
        service: the service name (a label on everything).
        metrics: the service's RuntimeMetrics, if any.
        health: anything with ``beat(part)`` (the admin server's liveness), if any.
        audit: where ProcessingRecords go, if anywhere.
        part: the loop's name in the liveness (``/healthz`` names it when it stops beating).
    """

    def __init__(self, service: str, metrics: RuntimeMetrics | None = None,
                 health: Heartbeat | None = None, audit: AuditTrail | None = None,
                 part: str = "consumer loop") -> None:
        self.service = service
        self.part = part
        self.metrics = metrics
        self.health = health
        self.audit = audit
        self.partitions_assigned = 0
        self._children: dict[tuple[str, str, str], tuple[Any, Any, Any, Any]] = {}
        self.beats = 0

    def started(self) -> None:
        if self.metrics:
            self.metrics.mark_up()

    def stopped(self) -> None:
        if self.metrics:
            self.metrics.mark_down()

    def beat(self) -> None:
        self.beats += 1
        if self.health:
            self.health.beat(self.part)

    def assigned(self, count: int) -> None:
        self.partitions_assigned = count

    def retried(self, spec: HandlerSpec, msg: Consumed, attempt: int, exc: BaseException) -> None:
        log.warning("attempt %d of %s failed transiently: %s", attempt, spec.name, exc,
                    extra=_where(msg))
        if self.metrics:
            self.metrics.failures.labels(self.service, msg.topic, spec.name, "transient").inc()
            self.metrics.retries.labels(self.service, msg.topic, spec.name).inc()

    def _series(self, topic: str, handler: str, outcome: str) -> tuple[Any, Any, Any, Any]:
        """The labelled children of one (topic, handler, outcome), looked up once (hot path)."""
        key = (topic, handler, outcome)
        found = self._children.get(key)
        if found is None:
            m = self.metrics
            assert m is not None
            found = (m.consumed.labels(self.service, topic),
                     m.processed.labels(self.service, topic, handler, outcome),
                     m.processing_seconds.labels(self.service, handler),
                     m.end_to_end_seconds.labels(self.service, topic))
            self._children[key] = found
        return found

    def handled(self, spec: HandlerSpec, msg: Consumed, ctx: Context | None, outcome: str,
                seconds: float) -> None:
        if self.metrics:
            consumed, processed, duration, end_to_end = self._series(msg.topic, spec.name, outcome)
            consumed.inc()
            processed.inc()
            duration.observe(seconds)
            if outcome == "duplicate":
                self.metrics.duplicates.labels(self.service, spec.name).inc()
            if ctx is not None and ctx.occurred_at_ms:
                end_to_end.observe(max(0.0, time.time() - ctx.occurred_at_ms / 1000.0))
        if self.audit:
            self.audit.record(spec.name, msg, ctx, outcome, seconds)

    def skipped(self, spec: HandlerSpec, msg: Consumed, why: str) -> None:
        """A record handed to no handler (a replay meant for another service): counted as
        ``skipped`` in ``ecombus_messages_processed_total``; no audit record (nothing was done)."""
        log.debug("skipped %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, why, extra=_where(msg))
        if self.metrics:
            self.metrics.consumed.labels(self.service, msg.topic).inc()
            self.metrics.processed.labels(self.service, msg.topic, spec.name, "skipped").inc()

    def dead_lettered(self, spec: HandlerSpec, msg: Consumed, ctx: Context | None,
                      failure: Failure, seconds: float) -> None:
        log.error("dead-lettering %s[%d]@%d after %d attempt(s) in %s: %s: %s", msg.topic,
                  msg.partition, msg.offset, failure.attempts, spec.name,
                  type(failure.error).__name__, failure.error, extra=_where(msg, ctx))
        if self.metrics:
            m = self.metrics
            m.consumed.labels(self.service, msg.topic).inc()
            if failure.kind == "permanent":
                m.failures.labels(self.service, msg.topic, spec.name, "permanent").inc()
            m.dead_lettered.labels(self.service, msg.topic, spec.name, failure.kind).inc()
            m.processed.labels(self.service, msg.topic, spec.name, "dead_lettered").inc()
            m.processing_seconds.labels(self.service, spec.name).observe(seconds)
        if self.audit:
            self.audit.record(spec.name, msg, ctx, "dead_lettered", seconds, failure)

    def delivery_failed(self, topic: str, err: KafkaError) -> None:
        log.error("delivery to %s failed: %s", topic, err)
        if self.metrics:
            self.metrics.delivery_failures.labels(self.service, topic).inc()


def _where(msg: Consumed, ctx: Context | None = None) -> dict[str, Any]:
    extra: dict[str, Any] = {"topic": msg.topic, "partition": msg.partition,
                             "offset": msg.offset}
    if ctx is not None:
        extra.update(event_id=ctx.event_id, correlation_id=ctx.correlation_id)
    return extra
