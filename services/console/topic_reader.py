"""Reading topics for the topics pages: the list with message counts, and one page of records.

A page is read by an assign-only consumer of its own (a unique ``group.id`` that is never joined or
committed to, ``enable.auto.commit=False``), so browsing leaves no trace in any consumer group,
and within a time budget (:data:`READ_SECONDS`) and a scan budget (:data:`MAX_SCAN` records), so a
page never runs long. At most :data:`CONCURRENT_READS` pages are read at once; the request
beyond gets :class:`~bus.errors.Unavailable` rather than a thread of the pool.

Paging, per partition: a page reads *forward* from a position (the records at or after it, oldest
first) or *backward* from one (the records before it, newest first). Each partition contributes at
most ``limit`` matching records; those of all partitions are merged by timestamp and the
``limit`` first in the reading direction are the page. :class:`Page` says, per partition, where
the older records begin (``lower``: read backward from there) and the newer ones (``upper``: read
forward from there), so following them neither skips nor repeats a record. Each page is in time
order; when a budget stopped some partitions early, the next page may hold records of those
partitions older (or newer) than the previous page's last.

The scan budget is shared by the partitions read (a filter on a 12-partition topic examines at most
about 416 records of each); an unfiltered page reads at most ``limit`` records of each partition.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from bus.errors import NotFound, TransientError, Unavailable
from bus.ops.decoding import Decoded, decode_key, decode_value
from bus.serde.avro import AvroDecoder
from bus.settings import ClientConfig
from services.console.record_filter import Filter

READ_SECONDS = 5.0
MAX_SCAN = 5_000
CONCURRENT_READS = 4
CHUNK = 500
"""Records read per step when reading backward through filtered records."""
INTERNAL = re.compile(r"^_|\.(changelog|outbox)$|-changelog$")
"""Kafka's and the registry's own topics, the services' internal state (hidden unless asked)."""

Direction = Literal["forward", "backward"]


@dataclass(frozen=True)
class TopicSummary:
    """One topic in the list; ``messages`` is the sum of end minus start offsets (compacted topics and
    transaction markers make it an upper bound)."""

    name: str
    partitions: int
    messages: int
    internal: bool


@dataclass(frozen=True)
class Record:
    """One record as read: key as text (``base64:`` when not UTF-8), raw headers, decoded value."""

    partition: int
    offset: int
    timestamp_ms: int | None
    key: str | None
    headers: list[tuple[str, bytes | None]]
    value: Decoded


@dataclass
class Page:
    """One page of records, oldest first, and where to go on from it (module docstring).

    Attributes:
        low / high: each read partition's start and end offsets when reading began.
        scanned: records examined (those that did not match the filter included).
        stopped: ``"scan limit"`` or ``"time limit"`` when a budget ran out before every partition
            gave ``limit`` matches or reached its end; None otherwise.
    """

    records: list[Record]
    lower: dict[int, int]
    upper: dict[int, int]
    low: dict[int, int]
    high: dict[int, int]
    scanned: int = 0
    stopped: str | None = None

    @property
    def has_older(self) -> bool:
        return any(self.lower[p] > self.low[p] for p in self.lower)

    @property
    def has_newer(self) -> bool:
        return any(self.upper[p] < self.high[p] for p in self.upper)


@dataclass
class _Partition:
    """One partition's part of a page being read."""

    number: int
    start: int
    frontier: int
    matches: list[Record] = field(default_factory=list)
    scanned: int = 0
    stopped: str | None = None


class TopicReader:
    """Lists topics and reads pages of records (see the module docstring).

    Args:
        client: librdkafka settings reaching the cluster.
        decoder: Avro through the registry (None: values are shown as JSON, text or bytes).
        consumer_factory / admin_factory: build the clients from a config dict (fakes in unit tests).
        read_seconds / max_scan: the budgets of one page.
    """

    def __init__(self, client: ClientConfig, decoder: AvroDecoder | None, *,
                 consumer_factory: Callable[[dict[str, Any]], Any] = Consumer,
                 admin_factory: Callable[[dict[str, Any]], Any] = AdminClient,
                 read_seconds: float = READ_SECONDS, max_scan: int = MAX_SCAN) -> None:
        self.client, self.decoder = dict(client), decoder
        self.consumer_factory, self.admin_factory = consumer_factory, admin_factory
        self.read_seconds, self.max_scan = read_seconds, max_scan
        self._admin: Any = None
        self._slots = threading.BoundedSemaphore(CONCURRENT_READS)

    def topics(self) -> list[TopicSummary]:
        """Every topic, by name, with its partition count and message count.

        Raises:
            TransientError: the cluster did not answer within the time budget.
        """
        if self._admin is None:
            self._admin = self.admin_factory(self.client)
        timeout = self.read_seconds
        try:
            metadata = self._admin.list_topics(timeout=timeout).topics
            parts = [TopicPartition(name, p) for name, t in metadata.items() if t.error is None
                     for p in t.partitions]
            low = self._offsets(parts, OffsetSpec.earliest(), timeout)
            high = self._offsets(parts, OffsetSpec.latest(), timeout)
        except (KafkaException, TimeoutError) as exc:
            raise TransientError(f"cannot list the topics: {exc or type(exc).__name__}") from exc
        counts: dict[str, int] = {}
        for tp in parts:
            key = (tp.topic, tp.partition)
            counts[tp.topic] = counts.get(tp.topic, 0) + max(0, high[key] - low[key])
        return [TopicSummary(name, len(t.partitions), counts.get(name, 0), bool(INTERNAL.search(name)))
                for name, t in sorted(metadata.items()) if t.error is None]

    def close(self) -> None:
        """Let go of the admin client the list uses (a closer of the console's assembly)."""
        self._admin = None

    def _offsets(self, parts: list[TopicPartition], spec: OffsetSpec,
                 timeout: float) -> dict[tuple[str, int], int]:
        if not parts:
            return {}
        answers = self._admin.list_offsets(dict.fromkeys(parts, spec), request_timeout=timeout)
        return {(tp.topic, tp.partition): f.result(timeout=timeout).offset for tp, f in answers.items()}

    @contextmanager
    def open(self, topic: str) -> Iterator[Browse]:
        """A browse of ``topic`` on a consumer of its own, closed on exit.

        Raises:
            Unavailable: :data:`CONCURRENT_READS` pages are being read already.
            NotFound: the topic does not exist.
            TransientError: the cluster did not answer.
        """
        if not self._slots.acquire(timeout=1.0):
            raise Unavailable(f"{CONCURRENT_READS} topic pages are being read already; try again in a moment")
        consumer = None
        try:
            consumer = self.consumer_factory({
                **self.client, "group.id": f"ecombus-console-browse-{uuid.uuid4().hex}",
                "enable.auto.commit": False, "enable.auto.offset.store": False,
                "enable.partition.eof": True, "auto.offset.reset": "earliest",
                "isolation.level": "read_committed", "fetch.wait.max.ms": 100,
                "queued.max.messages.kbytes": 8192})
            yield Browse(self, consumer, topic)
        finally:
            if consumer is not None:
                consumer.close()
            self._slots.release()


class Browse:
    """One topic on one consumer, for one request: watermarks, offsets by time, a page."""

    def __init__(self, reader: TopicReader, consumer: Any, topic: str) -> None:
        self.reader, self.consumer, self.topic = reader, consumer, topic
        self.timeout = reader.read_seconds
        try:
            found = consumer.list_topics(timeout=self.timeout).topics.get(topic)
            if found is None or found.error is not None:
                raise NotFound(f"topic {topic!r} does not exist")
            self.watermarks: dict[int, tuple[int, int]] = {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=self.timeout)
                for p in sorted(found.partitions)}
        except KafkaException as exc:
            raise TransientError(f"cannot read {topic}: {exc}") from exc

    def offsets_at(self, partitions: list[int], moment_ms: int) -> dict[int, int]:
        """Per partition, the first offset whose timestamp is at or after ``moment_ms`` (else the end)."""
        wanted = [TopicPartition(self.topic, p, moment_ms) for p in partitions]
        try:
            found = self.consumer.offsets_for_times(wanted, timeout=self.timeout)
        except KafkaException as exc:
            raise TransientError(f"cannot find offsets by time in {self.topic}: {exc}") from exc
        return {tp.partition: tp.offset if tp.offset >= 0 else self.watermarks[tp.partition][1]
                for tp in found}

    def page(self, positions: dict[int, int], direction: Direction, limit: int, wanted: Filter) -> Page:
        """``limit`` matching records forward from, or backward from, ``positions`` (module docstring).

        Positions are clamped to each partition's start and end.

        Raises:
            TransientError: the registry or the cluster is unreachable.
        """
        deadline = time.monotonic() + self.reader.read_seconds
        budget = self.reader.max_scan
        parts = []
        for n, (p, at) in enumerate(sorted(positions.items())):
            low, high = self.watermarks[p]
            start = min(max(at, low), high)
            part = _Partition(p, start, start)
            share_time = (deadline - time.monotonic()) / (len(positions) - n)
            # the scan budget bounds filtered pages; an unfiltered one reads at most ``limit`` per partition
            share_scan = max(1, budget // (len(positions) - n)) if not wanted.empty else limit
            step = self._forward if direction == "forward" else self._backward
            step(part, limit, wanted, share_scan, time.monotonic() + share_time)
            budget -= part.scanned
            parts.append(part)
        return _merge(parts, direction, limit, {p: self.watermarks[p] for p in positions})

    def _forward(self, part: _Partition, limit: int, wanted: Filter, quota: int, deadline: float) -> None:
        def keep(msg: Message) -> bool:
            part.scanned += 1
            record = self._match(msg, wanted)
            if record is not None:
                part.matches.append(record)
            return len(part.matches) < limit and part.scanned < quota

        end = self.watermarks[part.number][1]
        part.frontier, complete = self._read(part.number, part.frontier, end, deadline, keep)
        if part.frontier < end and len(part.matches) < limit:
            part.stopped = "time limit" if not complete else "scan limit"

    def _backward(self, part: _Partition, limit: int, wanted: Filter, quota: int, deadline: float) -> None:
        low = self.watermarks[part.number][0]
        size = limit if wanted.empty else max(limit, CHUNK)
        while part.frontier > low and len(part.matches) < limit:
            if part.scanned >= quota:
                part.stopped = "scan limit"
                return
            start = max(low, part.frontier - min(size, quota - part.scanned))
            chunk: list[Message] = []
            _, complete = self._read(part.number, start, part.frontier, deadline, _collect(chunk))
            if not complete:
                part.stopped = "time limit"
                return
            for msg in reversed(chunk):
                part.scanned += 1
                record = self._match(msg, wanted)
                if record is not None:
                    part.matches.append(record)
                    if len(part.matches) == limit:
                        part.frontier = msg.offset() or 0
                        return
            part.frontier = start

    def _match(self, msg: Message, wanted: Filter) -> Record | None:
        key = decode_key(msg.key())
        if wanted.key is not None and key != wanted.key:
            return None
        value = decode_value(self.reader.decoder, self.topic, msg.value())
        if not wanted.matches_value(value.value):
            return None
        kind, stamp = msg.timestamp()
        pairs: list[tuple[str, Any]] = list(msg.headers() or [])  # type: ignore[arg-type]
        headers = [(name, raw if raw is None or isinstance(raw, bytes) else str(raw).encode())
                   for name, raw in pairs]
        return Record(msg.partition() or 0, msg.offset() or 0, stamp if kind and stamp >= 0 else None,
                      key, headers, value)

    def _read(self, partition: int, start: int, end: int, deadline: float,
              keep: Callable[[Message], bool]) -> tuple[int, bool]:
        """Hand ``keep`` the records of ``[start, end)`` in order until it returns False.

        Returns:
            The next offset not handed over, and False when the deadline came first.
        """
        if start >= end:
            return end, True
        self.consumer.assign([TopicPartition(self.topic, partition, start)])
        reached = start
        while reached < end:
            if time.monotonic() > deadline:
                return reached, False
            for msg in self.consumer.consume(num_messages=min(CHUNK, end - reached), timeout=0.2):
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        reached = end  # nothing more to read now (the end, or an open transaction)
                        break
                    if error.fatal() or not error.retriable():
                        raise TransientError(f"reading {self.topic} [{partition}]: {error.str()}")
                    continue
                offset = msg.offset() or 0
                if msg.partition() != partition or offset < reached:
                    continue
                if offset >= end:
                    reached = end
                    break
                reached = offset + 1
                if not keep(msg):
                    return reached, True
            if reached < end:  # transaction markers and compacted-away records occupy offsets too
                reached = max(reached, min(end, self.consumer.position(
                    [TopicPartition(self.topic, partition)])[0].offset))
        return reached, True


def _collect(into: list[Message]) -> Callable[[Message], bool]:
    """A ``keep`` for :meth:`Browse._read` that collects every record."""
    def keep(msg: Message) -> bool:
        into.append(msg)
        return True

    return keep


def _merge(parts: list[_Partition], direction: Direction, limit: int,
           watermarks: dict[int, tuple[int, int]]) -> Page:
    everything = sorted((r for part in parts for r in part.matches),
                        key=lambda r: (r.timestamp_ms or -1, r.partition, r.offset),
                        reverse=direction == "backward")
    taken = everything[:limit]
    shown = {(r.partition, r.offset) for r in taken}
    lower, upper = {}, {}
    for part in parts:
        left = [r.offset for r in part.matches if (part.number, r.offset) not in shown]
        if direction == "forward":
            lower[part.number] = part.start
            upper[part.number] = min(left) if left else part.frontier
        else:
            upper[part.number] = part.start
            lower[part.number] = max(left) + 1 if left else part.frontier
    return Page(sorted(taken, key=lambda r: (r.timestamp_ms or -1, r.partition, r.offset)), lower, upper,
                {p: w[0] for p, w in watermarks.items()}, {p: w[1] for p, w in watermarks.items()},
                sum(part.scanned for part in parts), next((p.stopped for p in parts if p.stopped), None))
