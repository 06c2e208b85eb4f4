"""The audit trail: one ProcessingRecord per processing outcome on ``bus.audit.v1``.

Records are keyed by correlation_id, so one order's whole story sits in one partition in order;
``ecombus trace`` reads them back. Auditing never blocks or fails processing: records are
produced without waiting, and a failed delivery is counted by the producer's failure hook.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bus.runtime.codec import Codec
from bus.runtime.handlers import Consumed
from bus.runtime.producer import BusProducer

if TYPE_CHECKING:
    from bus.runtime.dlq import Failure
    from bus.runtime.handlers import Context

AUDIT_TOPIC = "bus.audit.v1"


class AuditTrail:
    """Write ProcessingRecords for one service.

    Args:
        service: who processed.
        producer: where records go (not waited on).
        codec: encodes the record (Avro in production).
        clock: injectable wall clock (seconds).
    """

    def __init__(self, service: str, producer: BusProducer, codec: Codec,
                 topic: str = AUDIT_TOPIC, clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.topic = topic
        self._producer = producer
        self._codec = codec
        self._clock = clock

    def record(self, handler: str, msg: Consumed, ctx: Context | None, outcome: str,
               seconds: float, failure: Failure | None = None) -> None:
        """Queue one ProcessingRecord describing how ``msg`` was processed."""
        value = processing_record(self.service, handler, msg.topic, msg.partition,
                                  msg.offset, ctx, outcome, seconds, self._clock(), failure)
        key = value["correlation_id"] or value["event_id"]
        self._producer.produce(self.topic, self._codec.encode(self.topic, value),
                               key=key.encode() if key else None)


def processing_record(service: str, handler: str, topic: str, partition: int, offset: int,
                      ctx: Context | None, outcome: str, seconds: float, now: float,
                      failure: Failure | None = None) -> dict[str, Any]:
    """The ProcessingRecord as an Avro-ready dict (see schemas/)."""
    event_id = ctx.event_id if ctx else None
    correlation_id = ctx.correlation_id if ctx else None
    return {
        "service": service,
        "handler": handler,
        "event_id": event_id,
        "correlation_id": correlation_id,
        "outcome": outcome,
        "duration_ms": round(seconds * 1000.0, 3),
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "processed_at": int(now * 1000),
        "error": f"{type(failure.error).__name__}: {failure.error}" if failure else None,
        "error_kind": failure.kind if failure else None,
        "attempts": failure.attempts if failure else (ctx.attempt if ctx else 1),
    }
