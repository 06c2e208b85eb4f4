"""Reading a topic to its end, and compacted topics kept as tables.

:func:`read_to_end` is the one way ecombus reads a topic "up to now": every record from the given
start offsets (default: the beginning) up to each partition's end offset as it was when the call
began. Under ``read_committed`` (the default) that end is the last stable offset: everything
committed by then is read, and a transaction still open is not waited for (its records arrive
with the tail, once committed). The end of a partition is seen either by the consumer's
*position* (which moves past transaction markers, that are never delivered) or by a
partition-EOF event at or past it. When the deadline passes first,
:class:`~bus.errors.TransientError` names the topic and the partitions left: a partial read is
never passed off as the whole.

:class:`CompactedTable` is a key → value view of a compacted topic: :meth:`~CompactedTable.load`
creates the topic with its declared config when a spec is given, reads it to the end (or
raises), and may keep tailing it in a background thread so writes by other replicas arrive. The
caller's ``apply(key, value, message)`` folds each record into its own state (a ``None`` value is
a tombstone), so every owner keeps its own value type.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from bus.errors import ConfigError, TransientError
from bus.settings import ClientConfig
from bus.topics import TopicSpec, ensure_topics

log = logging.getLogger(__name__)

Apply = Callable[[bytes | None, bytes | None, Message], None]
"""How a table folds one record in: ``apply(key, value, message)``; ``value`` None is a tombstone."""
DeliveryCallback = Callable[[KafkaError | None, Message], None]
V = TypeVar("V")

_ELECTING = frozenset({KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                       KafkaError._UNKNOWN_PARTITION, KafkaError.UNKNOWN_TOPIC_OR_PART,
                       KafkaError._DESTROY_BROKER, KafkaError._TRANSPORT, KafkaError._TIMED_OUT,
                       KafkaError._ALL_BROKERS_DOWN, KafkaError.OFFSET_NOT_AVAILABLE})
"""Errors a just-created topic answers with until its leaders are elected (and this client's
metadata, and the asked broker's, have its partitions: another replica may have just created
it), and those of a broker lost meanwhile (its connection down or its handle dropped, the request
timed out, a new leader's high watermark not caught up yet) while the others take over its
partitions: all waited out until the read's deadline.
(A topic that does not exist at all is told before, from the metadata: :func:`partitions_of`.)"""


class Writer(Protocol):
    """What :class:`CompactedTable` writes through (a BusProducer, a confluent Producer)."""

    def produce(self, topic: str, value: bytes | None, key: bytes | None = ..., *,
                on_delivery: DeliveryCallback | None = ...) -> None: ...


def partitions_of(consumer: Consumer, topic: str, timeout: float = 30.0) -> list[int]:
    """Partition ids of ``topic``, sorted.

    Raises:
        ConfigError: the topic does not exist (the message names it).
        TransientError: its metadata kept answering with an error for ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = consumer.list_topics(topic, timeout=_request_timeout(deadline)).topics.get(topic)
        error = None if found is None else found.error
        if found is not None and error is None and found.partitions:
            return sorted(found.partitions)
        if found is None or error is None or error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise ConfigError(f"topic {topic!r} does not exist on this cluster "
                              "('ecombus topics apply' creates the declared topics)")
        if time.monotonic() > deadline:
            raise TransientError(f"{topic}: no usable metadata within {timeout:.0f}s: {error}")
        time.sleep(0.2)


def _request_timeout(deadline: float) -> float:
    """What is left until ``deadline``, but at least a second: a request needs a round trip."""
    return max(1.0, deadline - time.monotonic())


def read_to_end(source: ClientConfig | Consumer, topic: str, timeout: float = 60.0, *,
                starts: Mapping[int, int] | None = None) -> Iterator[Message]:
    """Every record of ``topic`` from ``starts`` up to each partition's end as of the call.

    The end is the consumer's view of it: the high watermark under ``read_uncommitted``, the last
    stable offset under ``read_committed``.

    Args:
        source: client settings (a read_committed consumer is made, and closed at the end), or a
            consumer of the caller's (its isolation level applies; it is left assigned to every
            partition of ``starts``, positioned after the last record it fetched, which may be
            past the end: records past the end are not yielded).
        topic: the topic.
        timeout: seconds the whole read may take (each metadata or offsets request at least 1).
        starts: partition → first offset; a negative offset means the beginning. Default: every
            partition from the beginning.

    Raises:
        ConfigError: the topic does not exist.
        TransientError: the end was not reached within ``timeout`` (names the partitions left).
    """
    consumer = _consumer(source, topic) if isinstance(source, dict) else source
    deadline = time.monotonic() + timeout
    try:
        if starts is None:
            starts = dict.fromkeys(partitions_of(consumer, topic, timeout), OFFSET_BEGINNING)
        ends = _assign(consumer, topic, starts, deadline, timeout)
        for msg in _records(consumer, topic, ends, deadline, timeout):
            if (msg.offset() or 0) < ends.get(msg.partition() or 0, 0):
                yield msg
    finally:
        if consumer is not source:
            consumer.close()


def _consumer(client: ClientConfig, topic: str, isolation: str = "read_committed",
              group_id: str | None = None) -> Consumer:
    return Consumer({**client, "group.id": group_id or f"{topic}.reader", "enable.auto.commit": False,
                     "isolation.level": isolation, "enable.partition.eof": True})


def _assign(consumer: Consumer, topic: str, starts: Mapping[int, int], deadline: float,
            timeout: float) -> dict[int, int]:
    """Assign every partition of ``starts``; returns partition → end offset for those with records to read."""
    ends: dict[int, int] = {}
    for partition, start in starts.items():
        low, high = _watermarks(consumer, TopicPartition(topic, partition), deadline, timeout)
        if high > max(low, start):
            ends[partition] = high
    consumer.assign([TopicPartition(topic, p, o if o >= 0 else OFFSET_BEGINNING) for p, o in starts.items()])
    return ends


def _watermarks(consumer: Consumer, tp: TopicPartition, deadline: float, timeout: float) -> tuple[int, int]:
    """The partition's (low, high) offsets, waiting out a leader election (a just-created topic, a
    broker lost) until the deadline."""
    while True:
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=_request_timeout(deadline))
            return int(low), int(high)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            electing = isinstance(error, KafkaError) and (error.code() in _ELECTING or error.retriable())
            if not electing:
                raise
            if time.monotonic() > deadline:
                raise TransientError(f"{tp.topic}: partition {tp.partition} had no leader within "
                                     f"{timeout:.0f}s: {error}") from exc
            time.sleep(0.2)


def _records(consumer: Consumer, topic: str, ends: dict[int, int], deadline: float,
             timeout: float) -> Iterator[Message]:
    """Every record the assigned ``consumer`` fetches until each partition of ``ends`` reached its end.

    Records past an end are yielded too (a table applies them; :func:`read_to_end` drops them).
    """
    left = dict(ends)
    last_error = ""
    while left:
        if time.monotonic() > deadline:
            because = f"; last error: {last_error}" if last_error else ""
            raise TransientError(f"{topic}: not read to its end within {timeout:.0f}s "
                                 f"(partitions {sorted(left)} left{because})")
        for msg in consumer.consume(num_messages=1000, timeout=0.2):
            error = msg.error()
            if error is None:
                yield msg
            elif error.code() == KafkaError._PARTITION_EOF:
                if (msg.offset() or 0) >= left.get(msg.partition() or 0, 0):
                    left.pop(msg.partition() or 0, None)
            else:
                last_error = error.str()
                log.warning("%s: %s while reading it to its end", topic, last_error)
        if left:  # the position, not the last offset read: it moves past transaction markers too
            for tp in consumer.position([TopicPartition(topic, p) for p in left]):
                if tp.offset >= left[tp.partition]:
                    del left[tp.partition]


def into_dict(values: dict[str, V], lock: threading.Lock, decode: Callable[[bytes], V]) -> Apply:
    """The usual :data:`Apply`: keep ``values`` as utf-8 key → ``decode(value)``, under ``lock``.

    A tombstone deletes its key; a record without a key is skipped.
    """

    def apply(key: bytes | None, value: bytes | None, _msg: Message) -> None:
        if key is None:
            return
        with lock:
            if value is None:
                values.pop(key.decode(), None)
            else:
                values[key.decode()] = decode(value)

    return apply


class CompactedTable:
    """A key → value view of a (compacted) topic, kept by the caller's ``apply``.

    Args:
        client: Kafka client settings.
        topic: the topic.
        apply: folds one record in, in offset order within a partition; called by :meth:`load`
            in the caller's thread, then by the tail thread, never by both at once.
        spec: when given, :meth:`load` first creates the topic with it (partitions, cleanup.policy,
            retention...) if it is missing; without one the topic must exist.
        producer: what :meth:`put` and :meth:`tombstone` write through (a transactional producer
            writes inside its open transaction).
        partitions: the partitions to read (default: all).
        isolation: ``read_committed`` (default) or ``read_uncommitted``.
        group_id: the reading consumer's group (nothing is committed); default ``<topic>.reader``.
    """

    def __init__(self, client: ClientConfig, topic: str, apply: Apply, *, spec: TopicSpec | None = None,
                 producer: Writer | None = None, partitions: Sequence[int] | None = None,
                 isolation: str = "read_committed", group_id: str | None = None) -> None:
        self.topic, self.spec = topic, spec
        self._client, self._apply_record, self._producer = client, apply, producer
        self._only = list(partitions) if partitions is not None else None
        self._isolation, self._group_id = isolation, group_id
        self.topic_partitions: list[int] = []
        """Every partition the topic has (known once loaded)."""
        self.loaded = False
        self.error = ""
        """The last error the tail consumer reported ('' when none)."""
        self._consumer: Consumer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._applied: dict[int, int] = {}
        self._progress = threading.Condition()

    def load(self, timeout: float = 60.0, *, tail: bool = True) -> None:
        """Create the topic if a spec says so, apply every record to its end, then tail it if asked.

        Raises:
            ConfigError: there is no spec and the topic does not exist.
            TransientError: the end was not reached within ``timeout`` seconds (nothing is tailed).
            KafkaException: the topic could not be created.
        """
        deadline = time.monotonic() + timeout
        if self.spec is not None:
            ensure_topics(self._client, [self.spec], timeout=timeout)
        consumer = _consumer(self._client, self.topic, self._isolation, self._group_id)
        try:
            self.topic_partitions = self._partitions(consumer, deadline, timeout)
            wanted = self._only if self._only is not None else self.topic_partitions
            ends = _assign(consumer, self.topic, dict.fromkeys(wanted, OFFSET_BEGINNING), deadline, timeout)
            for msg in _records(consumer, self.topic, ends, deadline, timeout):
                self._apply(msg)
        except BaseException:
            consumer.close()
            raise
        self.loaded = True
        if not tail:
            consumer.close()
            return
        self._consumer = consumer
        self._thread = threading.Thread(target=self._tail, name=f"{self.topic}-tail", daemon=True)
        self._thread.start()

    def _partitions(self, consumer: Consumer, deadline: float, timeout: float) -> list[int]:
        while True:
            try:
                return partitions_of(consumer, self.topic, deadline - time.monotonic())
            except ConfigError:
                if self.spec is None or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)  # just created: not in this broker's metadata yet

    def _apply(self, msg: Message) -> None:
        self._apply_record(msg.key(), msg.value(), msg)
        with self._progress:
            self._applied[msg.partition() or 0] = (msg.offset() or 0) + 1
            self._progress.notify_all()

    def _tail(self) -> None:
        assert self._consumer is not None
        while not self._stop.is_set():
            try:
                messages = self._consumer.consume(num_messages=1000, timeout=0.2)
            except (KafkaException, RuntimeError) as exc:
                if self._stop.is_set():
                    return
                self.error = str(exc)
                log.warning("%s: tail consumer: %s", self.topic, exc)
                time.sleep(0.5)
                continue
            for msg in messages:
                error = msg.error()
                if error is None:
                    self._apply(msg)
                elif error.code() != KafkaError._PARTITION_EOF:
                    self.error = error.str()
                    log.warning("%s: tail consumer: %s", self.topic, self.error)

    @property
    def tailing(self) -> bool:
        """True while the tail thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def wait_applied(self, partition: int, offset: int, timeout: float) -> bool:
        """Wait until the record at ``offset`` of ``partition`` was applied; False on timeout."""
        with self._progress:
            return self._progress.wait_for(lambda: self._applied.get(partition, 0) > offset, timeout)

    def put(self, key: bytes, value: bytes, on_delivery: DeliveryCallback | None = None) -> None:
        """Write ``key`` → ``value`` through the producer (applied here once tailed back)."""
        self._writer().produce(self.topic, value, key, on_delivery=on_delivery)

    def tombstone(self, key: bytes, on_delivery: DeliveryCallback | None = None) -> None:
        """Write a tombstone for ``key`` (compaction then drops the key)."""
        self._writer().produce(self.topic, None, key, on_delivery=on_delivery)

    def _writer(self) -> Writer:
        if self._producer is None:
            raise RuntimeError(f"{self.topic}: this table was given no producer to write with")
        return self._producer

    def close(self) -> None:
        """Stop tailing and close the consumer. Idempotent."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
