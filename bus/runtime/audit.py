"""The audit trail: one ProcessingRecord per processing outcome on ``bus.audit.v1``.

Records are keyed by correlation_id, so one order's whole story sits in one partition in order;
``ecombus trace`` reads them back. Auditing never blocks or fails processing: records are
produced without waiting, and a failed delivery is counted by the producer's failure hook.
"""

from __future__ import annotations

import time
import uuid
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
        self._producer.produce(self.topic, self._codec.encode(self.topic, value),
                               key=value["meta"]["correlation_id"].encode())


def processing_record(service: str, handler: str, topic: str, partition: int, offset: int,
                      ctx: Context | None, outcome: str, seconds: float, now: float,
                      failure: Failure | None = None, actor: str | None = None) -> dict[str, Any]:
    """The ProcessingRecord (schemas/ProcessingRecord.avsc) as an Avro-ready dict.

    Its own event_id is derived from where the input sat and what happened to it, so a
    re-processed message yields a new record only when the outcome differs. ``actor`` is the
    person who asked for it (replays); services acting by themselves leave it None.
    """
    where = f"{topic}/{partition}/{offset}"
    input_id = (ctx.event_id if ctx else None) or where
    error = None
    if failure is not None:
        error = {"kind": failure.kind.upper(),
                 "class_name": f"{type(failure.error).__module__}.{type(failure.error).__qualname__}",
                 "message": str(failure.error)[:2000], "dlq_topic": f"dlq.{service}"}
    return {
        "meta": {
            "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"ecombus:{service}:{where}:{outcome}")),
            "occurred_at": int(now * 1000),
            "source": {"platform": "ecombus", "system": service},
            "correlation_id": (ctx.correlation_id if ctx else None) or input_id,
            "causation_id": ctx.event_id if ctx else None,
        },
        "service": service,
        "event_id": input_id,
        "outcome": outcome.upper(),
        "duration_seconds": seconds,
        "attempts": failure.attempts if failure else (ctx.attempt if ctx else 1),
        "error": error,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "handler": handler,
        "route": failure.route if failure else None,
        "step": failure.step if failure else None,
        "order_id": ctx.order_id if ctx else None,
        "actor": actor,
    }
