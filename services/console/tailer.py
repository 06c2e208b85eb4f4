"""Feed the journey index from the topics: rebuild from the beginning, then tail.

:class:`IndexTailer` is a part (``run(stop)``, :class:`bus.assembly.Part`). On start it assigns
(no consumer group, nothing committed) every partition of the index's topics
(:class:`~services.console.ingest.Topics`) and of every ``dlq.*`` topic, from where the index
stands (the beginning for a fresh index), notes each partition's end, and reads up to those ends
in batches, one index transaction each: the *rebuild*. Once every partition reached its end,
:attr:`IndexTailer.caught_up` is set and the tailer goes on with whatever arrives; every
``refresh_seconds`` it looks for topics created since (a new ``dlq.<service>``) and measures its lag.

Wiring (the console's ``wiring.py``)::

    index = JourneyIndex(settings.state_dir / "journey.sqlite")        # dropped and made anew
    decoder = RecordDecoder(RegistryClient.from_settings(registry), keep=READ_FIELDS)
    tailer = IndexTailer(index, lambda: Consumer(consumer_config(kafka.client_config())),
                         decoder.decode, assembly.registry)
    assembly.add("index", tailer)
    assembly.health.add_check("index", lambda: tailer.ready)   # tailer.progress().text: the banner

A record that cannot be decoded is not the console's to lose (the topic keeps it): it is
counted in ``ecombus_console_index_skipped_total{topic}``, logged without its content, and its
position moves on. Only an unreachable registry (a transient error) holds the tailer back: it
waits and tries again, so no record is skipped for a passing outage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from confluent_kafka import OFFSET_BEGINNING, KafkaError, Message, TopicPartition
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client import Counter as Counted

from bus.errors import TransientError
from bus.runtime.handlers import headers_of
from services.console.index import JourneyIndex
from services.console.ingest import Record

log = logging.getLogger(__name__)

Decode = Callable[[str, bytes], Any]


class ConsumerLike(Protocol):
    """The confluent-kafka Consumer methods the tailer uses (a fake in unit tests)."""

    def list_topics(self, topic: str | None = ..., timeout: float = ...) -> Any: ...
    def get_watermark_offsets(self, partition: TopicPartition, timeout: float = ...) -> tuple[int, int]: ...
    def incremental_assign(self, partitions: list[TopicPartition]) -> None: ...
    def consume(self, num_messages: int = ..., timeout: float = ...) -> list[Message]: ...
    def close(self) -> None: ...


def consumer_config(client: dict[str, Any]) -> dict[str, Any]:
    """Settings of the tailer's consumer: assign-only, never commits, sees committed data only."""
    return {**client, "group.id": "ecombus.console.index", "enable.auto.commit": False,
            "enable.auto.offset.store": False, "enable.partition.eof": True,
            "isolation.level": "read_committed"}


class Progress(NamedTuple):
    """The rebuild's progress: records (offsets) read of those there were when it began."""

    done: int
    target: int
    ready: bool

    @property
    def text(self) -> str:
        """``index rebuilding: 412,000 of 1,000,000``, or ``index current`` once caught up."""
        return "index current" if self.ready else f"index rebuilding: {self.done:,} of {self.target:,}"


class IndexTailer:
    """Keep ``index`` current with the topics.

    Args:
        index: the journey index (fresh: the rebuild starts from the beginning).
        consumer: makes the consumer (``lambda: Consumer(consumer_config(client))``).
        decode: ``decode(topic, bytes)`` → value (a :class:`~services.console.decoding.RecordDecoder`).
        registry: where the tailer's metrics go.
        batch_size: records per index transaction.
        progress_every: log the rebuild's progress every this many records.
        refresh_seconds: how often to look for new topics and measure the lag.
    """

    def __init__(self, index: JourneyIndex, consumer: Callable[[], ConsumerLike], decode: Decode,
                 registry: CollectorRegistry | None = None, *, batch_size: int = 20_000,
                 progress_every: int = 100_000, refresh_seconds: float = 30.0,
                 poll_seconds: float = 0.5) -> None:
        self.index, self._make_consumer, self._decode = index, consumer, decode
        self.batch_size, self.progress_every = batch_size, progress_every
        self.refresh_seconds, self.poll_seconds = refresh_seconds, poll_seconds
        self.caught_up = threading.Event()
        """Set once every partition assigned at start was read up to its end as of then."""
        self._ends: dict[tuple[str, int], int] = {}  # rebuild target per partition still being read
        self._undescribed: set[str] = set()  # topics the last metadata could not describe
        self._next: dict[tuple[str, int], int] = {}  # next offset to read, per assigned partition
        self._target = 0
        self._logged = 0
        registry = registry if registry is not None else CollectorRegistry()
        self._indexed = Counted("ecombus_console_index_records", "Records read into the journey index.",
                                ["topic"], registry=registry)
        self._skipped = Counted("ecombus_console_index_skipped", "Records the journey index could not "
                                "read (undecodable or not of their topic's shape), skipped.", ["topic"],
                                registry=registry)
        self._ready = Gauge("ecombus_console_index_ready", "1 once the index was rebuilt up to the end "
                            "of every topic as of start.", registry=registry)
        self._lag = Gauge("ecombus_console_index_lag_records", "Records on the topics not yet in the "
                          "index (at the last measure).", registry=registry)

    @property
    def ready(self) -> bool:
        return self.caught_up.is_set()

    def progress(self) -> Progress:
        """How far the rebuild is: records done, of the target, ready; ``.text`` for a banner."""
        remaining = sum(max(0, end - self._next[tp]) for tp, end in self._ends.items())
        return Progress(self._target - remaining, self._target, self.ready)

    def status(self) -> str:
        """One line for the readiness check and the pages' banner."""
        return self.progress().text

    def run(self, stop: threading.Event) -> None:
        """Rebuild, then tail until ``stop`` is set."""
        consumer = self._make_consumer()
        started = time.monotonic()
        try:
            self._assign_new(consumer, rebuild=True)
            self._check_done(started)
            refreshed = time.monotonic()
            while not stop.is_set():
                batch = consumer.consume(self.batch_size, self.poll_seconds)
                if batch:
                    self._ingest(batch, stop)
                if not self.ready:
                    self._check_done(started)
                if self._undescribed and not self.ready and time.monotonic() - refreshed >= 1.0:
                    self._assign_new(consumer, rebuild=True)
                    refreshed = time.monotonic()
                elif time.monotonic() - refreshed >= self.refresh_seconds:
                    self._assign_new(consumer, rebuild=False)
                    self._measure_lag(consumer)
                    refreshed = time.monotonic()
        finally:
            consumer.close()

    # -- assignment and progress ------------------------------------------------------------

    def _assign_new(self, consumer: ConsumerLike, rebuild: bool) -> None:
        """Assign partitions of the index's topics not assigned yet, from where the index stands."""
        topics = consumer.list_topics(timeout=30).topics
        wanted = [t for t in self.index.topics.named() if t in topics]
        wanted += sorted(t for t in topics if self.index.topics.is_dead_letters(t))
        stands = self.index.next_offsets()
        new: list[TopicPartition] = []
        self._undescribed = set()
        for topic in wanted:
            if topics[topic].error is not None:  # e.g. no leader for a moment: not read yet, so
                self._undescribed.add(topic)     # the rebuild is not done (asked again soon)
                continue
            if any(p.error is not None for p in topics[topic].partitions.values()):
                self._undescribed.add(topic)  # a partition without a leader for a moment: asked again
                continue
            for partition in sorted(topics[topic].partitions):
                tp = (topic, partition)
                if tp in self._next:
                    continue
                start = stands.get(tp, OFFSET_BEGINNING)
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
                if low < 0 or high < 0:  # no answer about its offsets yet: not read, so not done
                    self._undescribed.add(topic)
                    continue
                start = max(start, low)
                self._next[tp] = start
                if rebuild and high > start:
                    self._ends[tp] = high
                    self._target += high - start
                new.append(TopicPartition(topic, partition, start))
        if rebuild:
            self._lag.set(self._target)
        if new:
            consumer.incremental_assign(new)
            log.info("journey index: reading %d partitions of %d topics", len(new),
                     len({t.topic for t in new}))

    def _check_done(self, started: float) -> None:
        if self._undescribed or any(self._next[tp] < end for tp, end in self._ends.items()):
            return
        self._ends.clear()
        self.caught_up.set()
        self._ready.set(1)
        self._lag.set(0)
        seconds = time.monotonic() - started
        log.info("journey index rebuilt: %d records in %.1fs (%.0f/s)", self._target, seconds,
                 self._target / seconds if seconds else 0)

    def _measure_lag(self, consumer: ConsumerLike) -> None:
        behind = 0
        for (topic, partition), at in self._next.items():
            try:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            except Exception as exc:  # the broker away for a while: measure next time
                log.warning("journey index: lag of %s[%d] not measured: %s", topic, partition, exc)
                return
            behind += max(0, high - at)
        self._lag.set(behind)

    # -- records -----------------------------------------------------------------------------

    def _ingest(self, batch: list[Message], stop: threading.Event) -> None:
        records: list[Record] = []
        dead_letters, decode, positions = self.index.topics.is_dead_letters, self._decode, self._next
        for msg in batch:
            error = msg.error()
            topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    positions[(topic, partition)] = max(positions.get((topic, partition), 0), offset)
                else:
                    log.warning("journey index: consumer error on %s: %s", topic, error)
                continue
            data = msg.value()
            value = None  # a tombstone, a dead letter (its headers are what counts), or undecodable
            if data is not None and not dead_letters(topic):
                try:
                    value = decode(topic, data)
                except Exception:
                    value = self._decoded(topic, data, offset, stop)
            headers = msg.headers()
            records.append(Record(topic, partition, offset, msg.timestamp()[1], msg.key(),
                                  headers_of(msg) if headers else None, value))
            positions[(topic, partition)] = offset + 1
        if not records:
            return
        ingested = self.index.add_many(records)
        for topic, count in ingested.records.items():
            self._indexed.labels(topic).inc(count)
        for topic, count in ingested.skipped.items():
            self._skipped.labels(topic).inc(count)
        self._log_progress()

    def _decoded(self, topic: str, data: bytes, offset: int, stop: threading.Event) -> Any:
        """The decoded value after a first try failed, or None when it cannot be (logged); waits out a
        transient error."""
        while True:
            try:
                return self._decode(topic, data)
            except TransientError as exc:
                log.warning("journey index: %s offset %d waits: %s", topic, offset, exc)
                if stop.wait(1.0):
                    return None
            except Exception as exc:  # never the tailer's end: the topic keeps the record
                log.warning("journey index: %s offset %d skipped: %s: %s", topic, offset,
                            type(exc).__name__, exc)
                return None

    def _log_progress(self) -> None:
        if self.ready:
            return
        done, target, _ = self.progress()
        self._lag.set(target - done)
        if done - self._logged >= self.progress_every:
            self._logged = done
            log.info("journey %s", self.status())
