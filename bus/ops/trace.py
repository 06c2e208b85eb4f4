"""Follow one order (or correlation id, or event id) through the audit trail ``bus.audit.v1``.

Every service writes one ProcessingRecord per processing outcome, so the records matching an id
are the order's timeline; a DEAD_LETTERED record says exactly where and why it stopped. The
audit topic is read from ``since`` (default: the last 7 days) to its end.

A timeline starts where the order entered: every audit record about a message of a raw intake
topic (a name with ``intake`` in it, e.g. ``intake.storefronts.v1``) brings the raw delivery
itself in as a ``RECEIVED`` step, dated when it was received and saying from where (channel,
endpoint, peer address, receiving instance).

:func:`payment_of` gives the order's payment status (:mod:`bus.ops.payment`) from its events on
the order topics (placed, refunds, disputes, cancellations), keyed by order id, read from the
same ``since``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from bus.errors import ConfigError
from bus.ops.payment import PAYMENT_TOPICS, Payment, PaymentFact, derive, fact_of
from bus.ops.reading import partitions_of, read_to_end
from bus.runtime.audit import AUDIT_TOPIC
from bus.runtime.codec import Codec
from bus.settings import ClientConfig


@dataclass(frozen=True)
class Step:
    """One processing outcome in an order's timeline."""

    at: datetime | int
    service: str
    handler: str
    outcome: str
    event_id: str
    where: str
    duration_seconds: float
    attempts: int
    error: str | None
    dlq_topic: str | None


def _matches(record: dict[str, Any], wanted: str) -> bool:
    meta = record.get("meta") or {}
    return wanted in (meta.get("correlation_id"), record.get("order_id"), record.get("event_id"))


def trace(client: ClientConfig, codec: Codec, wanted: str, since_seconds: float = 7 * 24 * 3600,
          topic: str = AUDIT_TOPIC) -> list[Step]:
    """The timeline of ``wanted`` (order id, correlation id or event id), oldest first."""
    consumer = Consumer({**client, "group.id": "ecombus.trace", "enable.auto.commit": False})
    try:
        since_ms = int((time.time() - since_seconds) * 1000)
        parts = [TopicPartition(topic, p, since_ms) for p in partitions_of(consumer, topic)]
        starts = consumer.offsets_for_times(parts, timeout=30)
        steps = []
        for msg in read_to_end(consumer, list(starts)):
            record = codec.decode(topic, msg.value() or b"")
            if not _matches(record, wanted):
                continue
            error = record.get("error") or {}
            steps.append(Step(
                at=record["meta"]["occurred_at"], service=record["service"], handler=record["handler"],
                outcome=record["outcome"], event_id=record["event_id"],
                where=f"{record['topic']}[{record['partition']}]@{record['offset']}",
                duration_seconds=record["duration_seconds"], attempts=record["attempts"],
                error=f"{error['class_name']}: {error['message']}" if error else None,
                dlq_topic=error.get("dlq_topic") if error else None,
            ))
        steps += _received(consumer, codec, steps)
        return sorted(steps, key=_moment)
    finally:
        consumer.close()


def _moment(step: Step) -> float:
    return step.at / 1000.0 if isinstance(step.at, int) else step.at.timestamp()


def _received(consumer: Consumer, codec: Codec, steps: list[Step]) -> list[Step]:
    """A RECEIVED step for each raw delivery (intake record) the audited steps handled."""
    wanted = sorted({s.where for s in steps if "intake" in s.where.split("[", 1)[0]})
    found = []
    for where in wanted:
        topic, rest = where.split("[", 1)
        partition, offset = rest.split("]@")
        consumer.assign([TopicPartition(topic, int(partition), int(offset))])
        msg = consumer.consume(1, timeout=10)
        if not msg or msg[0].error() or msg[0].value() is None:
            continue
        raw = codec.decode(topic, msg[0].value() or b"")
        meta = raw.get("meta") or {}
        origin = f"{raw.get('channel')} {raw.get('path')}"
        if raw.get("remote_addr"):
            origin += f" from {raw['remote_addr']}"
        found.append(Step(at=meta.get("occurred_at") or 0, service=str(raw.get("received_by")),
                          handler=str(raw.get("topic") or raw.get("channel")), outcome="RECEIVED",
                          event_id=str(meta.get("event_id")), where=f"{origin} → {where}",
                          duration_seconds=0.0, attempts=1, error=None, dlq_topic=None))
    return found


def payment_of(client: ClientConfig, codec: Codec, order_id: str, since_seconds: float = 7 * 24 * 3600,
               topics: dict[str, str] | None = None) -> Payment | None:
    """The payment status of ``order_id`` from its events since ``since_seconds`` ago.

    Args:
        topics: payment topic → the topic actually read (default: the production names); a
            topic that does not exist is passed over.

    Returns:
        None when none of its payment events was found (e.g. an id that is no order's).
    """
    names = topics or {}
    consumer = Consumer({**client, "group.id": "ecombus.trace", "enable.auto.commit": False})
    facts: list[tuple[int, int, PaymentFact]] = []
    try:
        since_ms = int((time.time() - since_seconds) * 1000)
        wanted = order_id.encode()
        for n, (logical, event) in enumerate(PAYMENT_TOPICS.items()):
            topic = names.get(logical, logical)
            try:
                parts = [TopicPartition(topic, p, since_ms) for p in partitions_of(consumer, topic)]
            except ConfigError:
                continue
            for msg in read_to_end(consumer, list(consumer.offsets_for_times(parts, timeout=30))):
                if msg.key() == wanted and msg.value():
                    _, stamp = msg.timestamp()
                    facts.append((stamp, n, fact_of(event, codec.decode(topic, msg.value() or b""))))
    finally:
        consumer.close()
    return derive(f for _, _, f in sorted(facts, key=lambda x: (x[0], x[1])))
