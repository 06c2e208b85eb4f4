"""Inspect and replay a service's dead letters (``dlq.<service>``).

Replay progress is the committed offset of the consumer group ``ecombus.dlq-replay.<service>``:
records before it were replayed, records after it are *pending*. ``list`` reports pending
records; ``replay`` puts them back on the topic they came from (``__connect.errors.topic``) or on
``to``, with the original key, value bytes, headers (minus the error headers) and timestamp,
plus ``ecombus.replayed.from``. With filters, the commit advances only over the leading run of
replayed records, so a record left out stays pending (a later full replay may hand a record
replayed out of order to its handler twice, which at-least-once handlers tolerate).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from bus.errors import ConfigError, TransientError
from bus.ops.reading import partitions_of, read_to_end
from bus.runtime.dlq import CONNECT_PREFIX, ECOMBUS_PREFIX, dlq_topic, header_dict, strip_error_headers
from bus.runtime.handlers import headers_of
from bus.runtime.producer import BusProducer
from bus.settings import ClientConfig

FIELDS = {
    "topic": f"{CONNECT_PREFIX}topic",
    "exception": f"{CONNECT_PREFIX}exception.class.name",
    "message": f"{CONNECT_PREFIX}exception.message",
    "handler": f"{ECOMBUS_PREFIX}handler",
    "kind": f"{ECOMBUS_PREFIX}kind",
    "route": f"{ECOMBUS_PREFIX}route",
    "step": f"{ECOMBUS_PREFIX}step",
}


def replay_group(service: str) -> str:
    return f"ecombus.dlq-replay.{service}"


@dataclass(frozen=True)
class Filter:
    """``field=value`` (exact) or ``field~regex`` (search) on a dead letter."""

    field: str
    value: str
    regex: bool

    @classmethod
    def parse(cls, text: str) -> Filter:
        match = re.fullmatch(r"([a-z]+)(=|~)(.*)", text)
        if not match or match.group(1) not in [*FIELDS, "key"]:
            raise ConfigError(f"--where {text!r}: expected FIELD=VALUE or FIELD~REGEX with FIELD "
                              f"one of {', '.join([*FIELDS, 'key'])}")
        name, op, value = str(match.group(1)), str(match.group(2)), str(match.group(3))
        if op == "~":
            try:
                re.compile(value)
            except re.error as exc:
                raise ConfigError(f"--where {text!r}: bad regular expression: {exc}") from exc
        return cls(name, value, op == "~")

    def matches(self, msg: Message) -> bool:
        if self.field == "key":
            actual = (msg.key() or b"").decode("utf-8", "replace")
        else:
            actual = header_dict(headers_of(msg)).get(FIELDS[self.field], "")
        return bool(re.search(self.value, actual)) if self.regex else actual == self.value


def reason(msg: Message) -> str:
    """A one-line reason for grouping: exception class and the start of its message."""
    return reason_of(header_dict(headers_of(msg)))


def reason_of(headers: dict[str, str]) -> str:
    """:func:`reason` from a dead letter's decoded headers (:func:`~bus.runtime.dlq.header_dict`)."""
    exception = headers.get(FIELDS["exception"], "?").rsplit(".", 1)[-1]
    return f"{exception}: {headers.get(FIELDS['message'], '')[:100]}"


@dataclass
class DlqSummary:
    """What ``ecombus dlq list`` prints."""

    topic: str
    total: int = 0
    pending: int = 0
    oldest_pending_ms: int | None = None
    reasons: Counter[str] = field(default_factory=Counter)
    handlers: Counter[str] = field(default_factory=Counter)


def _consumer(client: ClientConfig, service: str) -> Consumer:
    return Consumer({**client, "group.id": replay_group(service), "enable.auto.commit": False,
                     "enable.auto.offset.store": False})


def _pending_starts(consumer: Consumer, topic: str) -> list[TopicPartition]:
    parts = [TopicPartition(topic, p) for p in partitions_of(consumer, topic)]
    return list(consumer.committed(parts, timeout=30))


def summarize(client: ClientConfig, service: str) -> DlqSummary:
    """Count the pending dead letters of ``service``, grouped by reason and handler."""
    topic = dlq_topic(service)
    consumer = _consumer(client, service)
    try:
        starts = _pending_starts(consumer, topic)
        summary = DlqSummary(topic)
        for tp in starts:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=30)
            summary.total += high - low
        for msg in read_to_end(consumer, starts):
            summary.pending += 1
            ts = msg.timestamp()[1]
            if summary.oldest_pending_ms is None or ts < summary.oldest_pending_ms:
                summary.oldest_pending_ms = ts
            summary.reasons[reason(msg)] += 1
            summary.handlers[header_dict(headers_of(msg)).get(FIELDS["handler"], "?")] += 1
        return summary
    finally:
        consumer.close()


@dataclass
class ReplayReport:
    replayed: int = 0
    skipped: int = 0
    still_pending: int = 0


def replay(client: ClientConfig, service: str, filters: Sequence[Filter] = (), to: str | None = None,
           on_record: Callable[[int, int], None] | None = None, dry_run: bool = False) -> ReplayReport:
    """Replay the pending dead letters of ``service`` that match every filter.

    Args:
        on_record: progress callback (records done, records to do).
        dry_run: count what would be replayed; produce and commit nothing.

    Raises:
        TransientError: the broker did not acknowledge the replayed records (nothing committed).
    """
    topic = dlq_topic(service)
    consumer = _consumer(client, service)
    producer = BusProducer(client)
    report = ReplayReport()
    try:
        starts = _pending_starts(consumer, topic)
        todo = 0
        for tp in starts:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=30)
            todo += high - (tp.offset if tp.offset >= 0 else low)
        commit: dict[int, int] = {}
        blocked: set[int] = set()
        failures: list[KafkaError] = []
        for done, msg in enumerate(read_to_end(consumer, starts), 1):
            partition, offset = msg.partition() or 0, msg.offset() or 0
            if all(f.matches(msg) for f in filters):
                report.replayed += 1
                if not dry_run:
                    _replay_one(producer, msg, to, failures)
                if partition not in blocked:
                    commit[partition] = offset + 1
            else:
                report.skipped += 1
                blocked.add(partition)
            if on_record:
                on_record(done, todo)
        if dry_run:
            return report
        if producer.flush(60) or failures:
            raise TransientError(f"replay not acknowledged by the broker ({failures[:1]}); nothing "
                                 "committed, run it again")
        if commit:
            consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in commit.items()],
                            asynchronous=False)
        report.still_pending = report.skipped
        return report
    finally:
        consumer.close()


def _replay_one(producer: BusProducer, msg: Message, to: str | None, failures: list[KafkaError]) -> None:
    headers = headers_of(msg)
    target = to or header_dict(headers).get(FIELDS["topic"])
    if not target:
        raise ConfigError(f"dead letter at offset {msg.offset()} has no {FIELDS['topic']} header; "
                          "use --to TOPIC")
    origin = f"{msg.topic()}/{msg.partition()}/{msg.offset()}".encode()
    producer.produce(target, msg.value(), key=msg.key(),
                     headers=[*strip_error_headers(headers), ("ecombus.replayed.from", origin)],
                     timestamp=msg.timestamp()[1],
                     on_delivery=lambda err, _m: failures.append(err) if err else None)
