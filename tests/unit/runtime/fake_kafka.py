"""Just enough of confluent-kafka's Consumer, Message and transactional Producer to run a
:class:`~bus.runtime.consumer.ConsumerLoop` in exactly-once mode without a broker.

The loop builds its consumer itself (``Consumer(config)``): tests put :class:`FakeConsumer` in
its place with ``monkeypatch.setattr("bus.runtime.consumer.Consumer", ...)`` and replace the
loop's transactional producer by :class:`FakeTransactionalProducer` (the real one is created,
never used: librdkafka does not connect until it is asked to).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from bus.runtime.handlers import Headers


@dataclass
class FakeMessage:
    """A consumed record (the accessors the loop and the dedupe state's restore use)."""

    topic_: str
    partition_: int
    offset_: int
    value_: bytes | None
    key_: bytes | None = None
    headers_: Headers = field(default_factory=list)
    timestamp_: int | None = None
    """Its create time (epoch ms); by default one from the offset."""
    error_: KafkaError | None = None
    """Set for an event such as end of partition rather than a record."""

    def error(self) -> KafkaError | None:
        return self.error_

    def topic(self) -> str:
        return self.topic_

    def partition(self) -> int:
        return self.partition_

    def offset(self) -> int:
        return self.offset_

    def key(self) -> bytes | None:
        return self.key_

    def value(self) -> bytes | None:
        return self.value_

    def headers(self) -> Headers:
        return self.headers_

    def timestamp(self) -> tuple[int, int]:
        return 1, 1_749_000_000_000 + self.offset_ if self.timestamp_ is None else self.timestamp_


class FakeConsumer:
    """Assigns ``partitions`` on the first ``consume``, then hands out ``batches`` one per call;
    sets ``stop`` once they are all handed out. Records what the loop did (``events``)."""

    def __init__(self, partitions: Iterable[tuple[str, int]], batches: Iterable[list[FakeMessage]],
                 stop: threading.Event, events: list[str], committed: dict[tuple[str, int], int] | None = None
                 ) -> None:
        self.partitions = [TopicPartition(t, p) for t, p in partitions]
        self.batches, self.stop, self.events = list(batches), stop, events
        self.committed_offsets = dict(committed or {})
        self.on_assign: Callable[[Any, list[TopicPartition]], None] | None = None
        self.positions: dict[tuple[str, int], int] = {}
        self.seeks: list[tuple[str, int, int]] = []
        self.closed = False

    def __call__(self, _config: dict[str, Any]) -> FakeConsumer:
        """Stands in for the ``Consumer`` class: the loop's ``Consumer(config)`` returns this one."""
        return self

    def subscribe(self, _topics: list[str], *, on_assign: Any, on_revoke: Any, on_lost: Any) -> None:
        self.on_assign = on_assign

    def consume(self, num_messages: int = 1, timeout: float = 1.0) -> list[FakeMessage]:
        if self.on_assign is not None:
            assign, self.on_assign = self.on_assign, None
            self.events.append("assign")
            assign(self, self.partitions)
        if not self.batches:
            self.stop.set()
            return []
        batch = self.batches.pop(0)
        for msg in batch:
            self.positions[(msg.topic_, msg.partition_)] = msg.offset_ + 1
        if not self.batches:
            self.stop.set()
        return batch

    def assignment(self) -> list[TopicPartition]:
        return list(self.partitions)

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(p.topic, p.partition, self.positions.get((p.topic, p.partition), -1001))
                for p in partitions]

    def committed(self, partitions: list[TopicPartition], timeout: float = 30.0) -> list[TopicPartition]:
        offsets = self.committed_offsets
        return [TopicPartition(p.topic, p.partition, offsets.get((p.topic, p.partition), -1001))
                for p in partitions]

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append((tp.topic, tp.partition, tp.offset))
        self.positions[(tp.topic, tp.partition)] = tp.offset

    def consumer_group_metadata(self) -> str:
        return "group-metadata"

    def pause(self, _partitions: list[TopicPartition]) -> None: ...

    def resume(self, _partitions: list[TopicPartition]) -> None: ...

    def close(self) -> None:
        self.closed = True


@dataclass
class Produced:
    topic: str
    value: bytes | None
    key: str | bytes | None
    headers: Headers
    partition: int | None


class FakeTransactionalProducer:
    """Stands in for the loop's :class:`~bus.runtime.producer.BusProducer` (and its ``raw``
    transactional producer). Records produced in a transaction land in ``committed`` when it
    commits; ``fail_commits`` makes that many commits fail with an abortable error;
    ``fail_produces`` that many produce calls fail as librdkafka's do once the transaction is in an
    abortable error state (``_STATE``, "Erroneous state", without ``txn_requires_abort``)."""

    def __init__(self, events: list[str], fail_commits: int = 0, fail_produces: int = 0) -> None:
        self.events, self.fail_commits, self.fail_produces = events, fail_commits, fail_produces
        self.open: list[Produced] = []
        self.committed: list[Produced] = []
        self.offsets: list[list[tuple[str, int, int]]] = []

    @property
    def raw(self) -> FakeTransactionalProducer:
        return self

    def init_transactions(self, _timeout: float) -> None: ...

    def begin_transaction(self) -> None:
        self.events.append("begin")
        self.open = []

    def produce(self, topic: str, value: bytes | None, key: str | bytes | None = None,
                headers: Headers | None = None, timestamp: int | None = None, on_delivery: Any = None,
                partition: int | None = None) -> None:
        if self.fail_produces:
            self.fail_produces -= 1
            self.events.append("produce failed")
            raise KafkaException(KafkaError(KafkaError._STATE,
                                            "Unable to produce message: Local: Erroneous state"))
        self.open.append(Produced(topic, value, key, list(headers or []), partition))

    def send_offsets_to_transaction(self, positions: list[TopicPartition], _metadata: Any,
                                    _timeout: float) -> None:
        self.offsets.append([(p.topic, p.partition, p.offset) for p in positions])

    def commit_transaction(self, _timeout: float) -> None:
        if self.fail_commits:
            self.fail_commits -= 1
            self.events.append("commit failed")
            raise KafkaException(KafkaError(KafkaError._FENCED, "induced abortable error",
                                            txn_requires_abort=True))
        self.events.append("commit")
        self.committed += self.open
        self.open = []

    def abort_transaction(self, _timeout: float) -> None:
        self.events.append("abort")
        self.open = []

    def poll(self, _timeout: float = 0.0) -> int:
        return 0

    def pending(self) -> int:
        return 0

    def flush(self, _timeout: float = 30.0) -> int:
        return 0

    def topics(self) -> list[str]:
        return [p.topic for p in self.committed]
