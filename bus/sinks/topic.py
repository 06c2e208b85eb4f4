"""A topic consumed into a :class:`~bus.sinks.batch.Sink`: the loop beside a service's main loop.

A :class:`TopicSink` subclass says only which key a record coalesces under (:meth:`key_of`;
None skips it) and how a batch of records is written (:meth:`write`). The loop around it:

* consumes ``topic`` as its own group, read_committed (only records whose transaction
  committed), auto-commit off, from the earliest offset when the group is new;
* keeps the newest record per key and flushes when the batch is due (``size`` records, or the
  oldest has waited ``linger`` seconds), when partitions are revoked, and at shutdown;
* dead-letters what the writer set aside to ``dlq.<service>``: the record's bytes, key,
  headers and timestamp untouched, plus the Kafka Connect and ecombus error headers (kind
  transient or permanent as the writer's error says); the rest of the batch counts as written;
* commits the consumed positions only after the batch was written and its dead letters
  acknowledged by the broker; an empty batch commits too (about once a second), so positions
  move past transaction markers and skipped records;
* a flush that fails transiently (a dead letter not acknowledged, a Kafka error, a writer that
  raised TransientError) is tried again every second, the batch kept; at shutdown it gives up
  after ``shutdown_timeout`` without committing. A crash replays everything after the last
  commit, so writers must be idempotent;
* an unexpected error is logged and sets ``stop``: the whole service stops (its orchestrator
  restarts it) rather than consuming on without its sink.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from prometheus_client import Counter, Gauge

from bus.errors import TransientError
from bus.runtime.dlq import STAGE_HANDLER, Failure, dead_letter_headers, dlq_topic
from bus.runtime.handlers import Consumed
from bus.runtime.producer import BusProducer
from bus.settings import ClientConfig
from bus.sinks.batch import CoalescingBatch, SetAside, Sink

log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Feed:
    """What a :class:`TopicSink` consumes, as whom, and where its dead letters go.

    Attributes:
        service: the service (DLQ topic ``dlq.<service>``, metric label, DLQ headers).
        topic, group_id, client: what to consume, as which group, with which client settings.
        producer: for dead letters (the service closes it).
        clock: monotonic seconds for the batch's linger (tests inject a fake one).
        sleep: between attempts (tests inject one).
    """

    service: str
    topic: str
    group_id: str
    client: ClientConfig
    producer: BusProducer
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def of(cls, service: str, topic: str, group_id: str, client: ClientConfig) -> Feed:
        """A feed with a producer of its own for the dead letters (closed by the service)."""
        return cls(service, topic, group_id, client, BusProducer(client))


class TopicSink(Generic[K]):
    """Consume a topic into a sink (see the module docstring); subclasses add the business rule.

    Args:
        feed: what to consume and where dead letters go.
        name: what the logs call it ("CRM flusher").
        handler: the handler named in DLQ headers.
        size, linger: the batch's triggers (see :class:`~bus.sinks.batch.CoalescingBatch`).
        pending, coalesced: series (already labelled) of the records waiting and replaced.
        poll: records asked for per consume call.
    """

    def __init__(self, feed: Feed, *, name: str, handler: str, size: int | None, linger: float | None,
                 pending: Gauge, coalesced: Counter, poll: int = 500) -> None:
        self.feed, self.name, self.handler = feed, name, handler
        self.service, self.topic, self.group_id, self.producer = (feed.service, feed.topic, feed.group_id,
                                                                  feed.producer)
        self._pending, self._coalesced, self._poll, self._sleep = pending, coalesced, poll, feed.sleep
        self.sink: Sink[K, Consumed] = Sink(self.write, size=size, linger=linger, clock=feed.clock,
                                            set_aside=self._dead_letter)

    # -- the business rule -----------------------------------------------------------------------

    def key_of(self, record: Consumed) -> K | None:
        """The key ``record`` coalesces under, or None to skip it."""
        raise NotImplementedError

    def write(self, batch: Mapping[K, Consumed]) -> Sequence[SetAside[Consumed]]:
        """Write the newest record of each key; return those to dead-letter.

        Raise TransientError to have the whole batch written again later."""
        raise NotImplementedError

    # -- the mechanism ---------------------------------------------------------------------------

    @property
    def batch(self) -> CoalescingBatch[K, Consumed]:
        """What waits to be written."""
        return self.sink.batch

    @property
    def pending(self) -> dict[K, Consumed]:
        """A copy of the records waiting, by key."""
        return self.sink.batch.entries()

    def add(self, record: Consumed) -> None:
        """Keep ``record`` as the newest of its key (unless :meth:`key_of` skips it)."""
        key = self.key_of(record)
        if key is not None and self.sink.add(key, record):
            self._coalesced.inc()

    def flush(self) -> None:
        """Write what waits and dead-letter what the writer set aside.

        Raises:
            TransientError: a dead letter was not acknowledged (the caller must not commit).
        """
        self.sink.flush()

    def _dead_letter(self, failures: Sequence[SetAside[Consumed]]) -> None:
        for failed in failures:
            record = failed.entry
            failure = Failure(self.service, self.handler, STAGE_HANDLER, failed.error, failed.attempts,
                              failed.first_failure, time.time(),
                              class_name=f"{type(self).__module__}.{type(self).__qualname__}")
            headers = dead_letter_headers(record.headers, record.topic, record.partition, record.offset,
                                          failure)
            self.producer.produce(dlq_topic(self.service), record.value, key=record.key, headers=headers,
                                  timestamp=record.timestamp_ms)
        if self.producer.flush(30.0):
            raise TransientError("dead letters not acknowledged by the broker")

    def run(self, stop: threading.Event, shutdown_timeout: float = 30.0) -> None:
        """Consume, batch and write until ``stop`` is set; then write what waits and commit."""
        try:
            self._run(stop, shutdown_timeout)
        except Exception:
            log.exception("%s failed; stopping the service", self.name)
            stop.set()

    def _run(self, stop: threading.Event, shutdown_timeout: float) -> None:
        consumer = Consumer({**self.feed.client, "group.id": self.group_id, "enable.auto.commit": False,
                             "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
        consumer.subscribe([self.topic], on_revoke=lambda c, _p: self._flush_and_commit(c))
        log.info("%s consuming %s as group %s", self.name, self.topic, self.group_id)
        committed = time.monotonic()
        try:
            while not stop.is_set():
                for msg in consumer.consume(num_messages=self._poll, timeout=0.2):
                    if self._usable(msg):
                        self.add(Consumed.of(msg))
                self._pending.set(len(self.sink))
                if self.sink.due() or (not len(self.sink) and time.monotonic() - committed >= 1.0):
                    self._flush_and_commit(consumer)  # an empty batch commits past transaction markers
                    committed = time.monotonic()
            self._flush_and_commit(consumer, deadline=time.monotonic() + shutdown_timeout)
        finally:
            consumer.close()

    def _flush_and_commit(self, consumer: Consumer, deadline: float | None = None) -> None:
        while len(self.sink):
            try:
                self.flush()
            except (TransientError, KafkaException) as exc:
                log.warning("%s: flush incomplete, trying again: %s", self.name, exc)
                if deadline is not None and time.monotonic() > deadline:
                    log.error("%s gives up at shutdown; %d records will be handled again on restart",
                              self.name, len(self.sink))
                    return
                self._sleep(1.0)
        self._pending.set(0)
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("%s: commit of %s failed (records will be handled again): %s",
                            self.name, self.topic, exc)

    def _usable(self, msg: Message) -> bool:
        err = msg.error()
        if err is not None and err.code() != KafkaError._PARTITION_EOF:
            log.warning("%s consuming %s: %s", self.name, self.topic, err)
        return err is None
