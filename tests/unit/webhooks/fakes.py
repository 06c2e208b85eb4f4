"""In-memory stand-ins for what the webhook edge and the intake stage stand on.

* :class:`FakeSender`: the edge's producer (:class:`~bus.webhooks.intake.Sender`).
* :class:`FakeMarks`: a :class:`~bus.runtime.idempotency.ProcessedEvents` without Kafka.
* :class:`MemoryDedupe`: the part of :class:`~bus.runtime.dedupe_state.DedupeState` a stage's
  handler and loop use (seen/mark, the PartitionState hooks), in memory, owning every partition.
* :func:`restored`: a real DedupeState assigned partitions from a changelog given as a list
  (its Kafka reads replaced), so its own logic runs without a broker.
* :func:`run_stage`: the intake records through a real exactly-once ConsumerLoop on fake Kafka
  clients, an :class:`~bus.webhooks.stage.Interpreter` as the handler.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest
from confluent_kafka import TopicPartition

from bus.errors import TransientError
from bus.runtime.codec import Codec
from bus.runtime.consumer import ConsumerLoop, LoopOptions
from bus.runtime.dedupe_state import DedupeState, PendingMarks
from bus.runtime.handlers import HandlerRegistry, Headers, Output
from bus.runtime.retry import RetryPolicy
from bus.webhooks.publication import Publication
from bus.webhooks.stage import Interpreter
from tests.unit.runtime.fake_kafka import FakeConsumer, FakeMessage, FakeTransactionalProducer
from tests.unit.runtime.fakes import UNREACHABLE_KAFKA


@dataclass
class FakeSender:
    """Acknowledges every record at once, except on topics listed in ``failing``."""

    produced: list[tuple[str, bytes | None, str | bytes | None, Headers]] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    delay: float = 0.0

    async def confirm_async(self, topic: str, value: bytes | None, key: bytes | str | None = None,
                            headers: Headers | None = None, timeout: float = 3.0) -> tuple[int, int]:
        if self.delay:
            await asyncio.sleep(self.delay)
        if topic in self.failing:
            raise TransientError(f"{topic}: the broker did not acknowledge within {timeout:.1f}s")
        self.produced.append((topic, value, key, list(headers or [])))
        return 0, len(self.produced) - 1

    def topics(self) -> list[str]:
        return [p[0] for p in self.produced]


@dataclass
class FakeMarks:
    """A ProcessedEvents without Kafka: a set of marked ids."""

    ids: set[str] = field(default_factory=set)

    def seen(self, event_id: str) -> bool:
        return event_id in self.ids

    def mark(self, event_id: str) -> None:
        self.ids.add(event_id)


class MemoryDedupe:
    """DedupeState's handler side and PartitionState hooks in memory; owns every partition.

    Same rules as the real one: marks are kept per attempt, join the transaction when the
    message is done, and become the state when it commits.
    """

    def __init__(self, changelog: str = "test.intake.changelog",
                 clock: Callable[[], float] = time.time) -> None:
        self.changelog, self._clock = changelog, clock
        self.store: dict[tuple[int, str], float] = {}
        self._pending = PendingMarks()

    def seen(self, partition: int, key: str) -> bool:
        where = (partition, key)
        return where in self._pending or where in self.store

    def mark(self, partition: int, key: str) -> Output:
        now = self._clock()
        self._pending.add((partition, key), now)
        return Output(self.changelog, str(int(now * 1000)).encode(), key.encode(), [], partition)

    def assigned(self, consumer: Any, partitions: list[TopicPartition]) -> None: ...

    def revoked(self, partitions: list[TopicPartition]) -> None: ...

    def attempt_started(self) -> None:
        self._pending.attempt_started()

    def message_done(self) -> None:
        self._pending.message_done()

    def committed(self) -> None:
        self.store.update(self._pending.take())

    def aborted(self) -> None:
        self._pending.aborted()


def changelog_record(partition: int, key: str, at_seconds: float | None) -> FakeMessage:
    """A changelog record as :meth:`DedupeState.mark` writes it (None: a tombstone)."""
    value = None if at_seconds is None else str(int(at_seconds * 1000)).encode()
    return FakeMessage("changelog", partition, 0, value, key.encode())


class _CommittedOffsets:
    """The one call :meth:`DedupeState.assigned` makes on the loop's consumer."""

    def committed(self, partitions: list[TopicPartition], timeout: float = 30.0) -> list[TopicPartition]:
        return partitions


def _reading(changelog: Iterable[FakeMessage]) -> Any:
    """``read_to_end`` over a changelog given as records, from the partitions asked for."""
    records = list(changelog)

    def read_to_end(_source: Any, _topic: str, _timeout: float = 60.0, *,
                    starts: dict[int, int] | None = None) -> Iterator[FakeMessage]:
        return iter([r for r in records if starts is None or r.partition() in starts])

    return mock.patch("bus.runtime.dedupe_state.read_to_end", read_to_end)


def restored(dedupe: DedupeState, partitions: Iterable[int], changelog: Iterable[FakeMessage] = ()) -> None:
    """Assign ``partitions`` of its input to a real DedupeState, restoring them from ``changelog``.

    Only the two Kafka reads of :meth:`DedupeState.assigned` are replaced (the committed offsets
    and the changelog's records); what it keeps of them, and ownership, is its own logic.
    """
    with _reading(changelog):
        dedupe.assigned(_CommittedOffsets(), [TopicPartition(dedupe.input_topic, p) for p in partitions])


@dataclass
class StageRun:
    """What an exactly-once ConsumerLoop did with intake records on fake Kafka clients."""

    producer: FakeTransactionalProducer
    consumer: FakeConsumer
    events: list[str]

    def committed(self, topic: str) -> list[Any]:
        return [p for p in self.producer.committed if p.topic == topic]


def run_stage(monkeypatch: pytest.MonkeyPatch, topic: str, interpret: Callable[[Any], Publication],
              dedupe: Any, codec: Codec, batches: list[list[tuple[int, bytes | None]]], *,
              fail_commits: int = 0, changelog: Iterable[FakeMessage] = (),
              partitions: Iterable[int] = (0,), service: str = "test-stage") -> StageRun:
    """Run ``batches`` of ``(partition, value)`` records of ``topic`` through a real exactly-once
    ConsumerLoop whose handler is ``Interpreter(dedupe, interpret)`` and whose state is
    ``dedupe`` (a MemoryDedupe or a real DedupeState, restored on assignment from ``changelog``);
    one transaction per batch."""
    events: list[str] = []
    stop = threading.Event()
    offsets: dict[int, int] = {}
    messages = []
    for batch in batches:
        messages.append([])
        for partition, value in batch:
            offset = offsets.get(partition, 0)
            offsets[partition] = offset + 1
            messages[-1].append(FakeMessage(topic, partition, offset, value, b"identity"))
    consumer = FakeConsumer([(topic, p) for p in partitions], messages, stop, events)
    producer = FakeTransactionalProducer(events, fail_commits)
    handlers = HandlerRegistry()
    handlers.handler(topic, name="interpret_delivery")(Interpreter(dedupe, interpret))
    options = LoopOptions(group_id=f"ecombus.{service}.intake", exactly_once=True, poll_timeout=0.01,
                          retry=RetryPolicy(max_attempts=2, initial_backoff=0.0, max_backoff=0.0, jitter=0.0))
    loop = ConsumerLoop(service, handlers, UNREACHABLE_KAFKA.client_config(), codec, options,
                        state=(dedupe,), sleep=lambda _s: None)
    loop.producer.close(0.1)  # the real transactional producer is never used
    loop.producer = producer  # type: ignore[assignment]
    monkeypatch.setattr("bus.runtime.consumer.Consumer", consumer)
    with _reading(changelog):
        loop.run(stop)
    return StageRun(producer, consumer, events)
