"""Inspect and replay a service's dead letters (``dlq.<service>``).

Replay progress is the committed offset of the consumer group ``ecombus.dlq-replay.<service>``:
records before it were replayed, records after it are *pending*. ``list`` reports pending
records; ``replay`` puts them back on the topic they came from (``__connect.errors.topic``) or on
``to``, with the original key, value bytes, headers (minus the error headers) and timestamp,
plus ``ecombus.replayed.from``, ``ecombus.replayed.by`` and the replay's target
(:mod:`bus.ops.replay`), and write an audit record per replayed dead letter. With filters, the
commit advances only over the leading run of replayed records, so a record left out stays
pending (a later full replay may hand a record replayed out of order to its handler twice, which
at-least-once handlers tolerate). The console replays single records and selections too:
:func:`advance` moves the commit over what it replayed when that is the leading run.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Message, TopicPartition

from bus.errors import ConfigError, TransientError
from bus.ops.reading import partitions_of, read_to_end
from bus.ops.replay import Encoder, Replay, Replayer, plan
from bus.runtime.dlq import CONNECT_PREFIX, ECOMBUS_PREFIX, dlq_topic, header_dict
from bus.runtime.handlers import Consumed, headers_of
from bus.runtime.producer import BusProducer
from bus.runtime.rate import TokenBucket
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
    """What ``ecombus dlq replay`` did (``audit_problem``: the audit records could not all be written)."""

    replayed: int = 0
    skipped: int = 0
    still_pending: int = 0
    audit_problem: str | None = None


def replay(client: ClientConfig, service: str, filters: Sequence[Filter] = (), to: str | None = None,
           on_record: Callable[[int, int], None] | None = None, dry_run: bool = False, *,
           actor: str = "ecombus", audit: Encoder | None = None, bucket: TokenBucket | None = None
           ) -> ReplayReport:
    """Replay the pending dead letters of ``service`` that match every filter.

    Each goes back as :func:`bus.ops.replay.plan` makes it (original bytes, ``ecombus.replayed.*``
    and, unless ``to`` is given, ``ecombus.replay.for``/``.route`` so that only the service and
    route that failed handle it again).

    Args:
        on_record: progress callback (records done, records to do).
        dry_run: count what would be replayed; produce and commit nothing.
        actor: who asked for it (``ecombus.replayed.by``, the audit records' ``actor``).
        audit: encodes the audit records (one ProcessingRecord per replayed dead letter on
            ``bus.audit.v1``); None writes none.
        bucket: a rate limit, if any.

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

        def chosen() -> Iterator[Replay]:
            for done, msg in enumerate(read_to_end(consumer, starts), 1):
                partition, offset = msg.partition() or 0, msg.offset() or 0
                if all(f.matches(msg) for f in filters):
                    report.replayed += 1
                    if not dry_run:
                        yield plan(Consumed.of(msg), actor, to=to)
                    if partition not in blocked:
                        commit[partition] = offset + 1
                else:
                    report.skipped += 1
                    blocked.add(partition)
                if on_record:
                    on_record(done, todo)

        if dry_run:
            for _ in chosen():
                pass
            return report
        progress = Replayer(producer, audit, bucket=bucket, service="ecombus").run(chosen(), actor)
        if progress.stopped_by is not None:
            raise progress.stopped_by
        if progress.failed or progress.unconfirmed:
            failure = progress.failed[0][1] if progress.failed else progress.error
            raise TransientError(f"replay not acknowledged by the broker ({failure}); nothing "
                                 "committed, run it again")
        if commit:
            consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in commit.items()],
                            asynchronous=False)
        report.still_pending = report.skipped
        report.audit_problem = progress.error
        return report
    finally:
        consumer.close()


@dataclass(frozen=True)
class DeadLetterInfo:
    """One dead letter as the console lists it when it has no index (the index's rows have the
    same attributes). ``order_id`` and the replay fields are unknown without the index."""

    topic: str
    partition: int
    offset: int
    service: str
    original_topic: str | None
    original_partition: int | None
    original_offset: int | None
    reason: str
    exception: str | None
    message: str | None
    handler: str | None
    route: str | None
    step: str | None
    kind: str | None
    attempts: int | None
    key: str | None
    at_ms: int
    order_id: str | None = None
    replayed_by: str | None = None
    replayed_at_ms: int | None = None
    replayed: bool = False


def info_of(record: Consumed) -> DeadLetterInfo:
    """What a dead letter's headers say about it."""
    headers = header_dict(record.headers)

    def number(name: str) -> int | None:
        text = headers.get(name, "")
        return int(text) if text.isdigit() else None

    return DeadLetterInfo(
        record.topic, record.partition, record.offset,
        headers.get(f"{ECOMBUS_PREFIX}service") or record.topic.removeprefix("dlq."),
        headers.get(FIELDS["topic"]), number(f"{CONNECT_PREFIX}partition"), number(f"{CONNECT_PREFIX}offset"),
        reason_of(headers), headers.get(FIELDS["exception"]), headers.get(FIELDS["message"]),
        headers.get(FIELDS["handler"]), headers.get(FIELDS["route"]), headers.get(FIELDS["step"]),
        headers.get(FIELDS["kind"]), number(f"{ECOMBUS_PREFIX}attempts"),
        None if record.key is None else record.key.decode("utf-8", "replace"), record.timestamp_ms or 0)


def pending(client: ClientConfig, service: str) -> list[DeadLetterInfo]:
    """Every pending dead letter of ``service`` (after the replay group's commit), oldest first per
    partition; none when its ``dlq.<service>`` topic does not exist."""
    topic = dlq_topic(service)
    consumer = _consumer(client, service)
    try:
        try:
            starts = _pending_starts(consumer, topic)
        except ConfigError:  # no dlq.<service> topic: nothing was ever dead-lettered
            return []
        return [info_of(Consumed.of(msg)) for msg in read_to_end(consumer, starts)]
    finally:
        consumer.close()


def advance(client: ClientConfig, service: str, replayed: Callable[[int, int], bool],
            partitions: Sequence[int]) -> dict[int, int]:
    """Move the replay group's commit of ``partitions`` over their leading run of replayed records.

    ``ecombus dlq list`` and ``replay`` count what follows the commit as pending; after the
    console replayed records, this keeps them from being replayed twice when they lead.

    Args:
        replayed: whether the record at (partition, offset) was replayed (now or earlier).

    Returns:
        The new committed offset of each partition that moved.
    """
    topic = dlq_topic(service)
    consumer = _consumer(client, service)
    moved: dict[int, int] = {}
    try:
        starts = [tp for tp in _pending_starts(consumer, topic) if tp.partition in partitions]
        blocked: set[int] = set()
        for msg in read_to_end(consumer, starts):
            partition, offset = msg.partition() or 0, msg.offset() or 0
            if partition in blocked:
                continue
            if replayed(partition, offset):
                moved[partition] = offset + 1
            else:
                blocked.add(partition)
            if len(blocked) == len(starts):
                break
        if moved:
            consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in moved.items()],
                            asynchronous=False)
        return moved
    finally:
        consumer.close()
