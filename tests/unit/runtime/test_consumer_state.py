"""ConsumerLoop (exactly-once mode) keeps PartitionState in step with its transactions: restored
on assignment before any message is handled, a fresh start per attempt, a message's writes kept
only when it succeeded, committed or aborted with the transaction. Run with fake Kafka clients
(tests/unit/runtime/fake_kafka.py); what they cannot show (fencing, rebalances under load) the
integration tests do against a broker."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from bus.errors import PermanentError, TransientError
from bus.runtime.codec import JsonCodec
from bus.runtime.consumer import ConsumerLoop, LoopOptions
from bus.runtime.handlers import Context, Duplicate, HandlerRegistry
from bus.runtime.retry import RetryPolicy
from tests.unit.runtime.fake_kafka import FakeConsumer, FakeMessage, FakeTransactionalProducer
from tests.unit.runtime.fakes import UNREACHABLE_KAFKA

TOPIC = "input.v1"


class RecordingState:
    """A PartitionState that writes the loop's calls into the shared event list."""

    def __init__(self, events: list[str]) -> None:
        self.events = events

    def assigned(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self.events.append(f"state.assigned {sorted(p.partition for p in partitions)}")

    def revoked(self, partitions: list[TopicPartition]) -> None:
        self.events.append(f"state.revoked {sorted(p.partition for p in partitions)}")

    def attempt_started(self) -> None:
        self.events.append("state.attempt_started")

    def message_done(self) -> None:
        self.events.append("state.message_done")

    def committed(self) -> None:
        self.events.append("state.committed")

    def aborted(self) -> None:
        self.events.append("state.aborted")


def _msg(offset: int, value: dict[str, Any]) -> FakeMessage:
    return FakeMessage(TOPIC, 0, offset, json.dumps(value).encode(), b"k")


class World:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, batches: list[list[FakeMessage]],
                 fail_commits: int = 0, transaction_timeout: float = 60.0, fail_produces: int = 0) -> None:
        self.now = 1_000.0
        self.events: list[str] = []
        self.stop = threading.Event()
        self.consumer = FakeConsumer([(TOPIC, 0)], batches, self.stop, self.events,
                                     committed={(TOPIC, 0): 0})
        self.producer = FakeTransactionalProducer(self.events, fail_commits, fail_produces)
        self.transient_left: dict[int, int] = {}
        handlers = HandlerRegistry()
        handlers.handler(TOPIC, name="handle")(self.handle)
        options = LoopOptions(group_id="g", exactly_once=True, batch_size=10, poll_timeout=0.01,
                              transaction_timeout=transaction_timeout,
                              retry=RetryPolicy(max_attempts=3, initial_backoff=0.0, max_backoff=0.0,
                                                budget_seconds=60, jitter=0.0))
        self.loop = ConsumerLoop("svc", handlers, UNREACHABLE_KAFKA.client_config(), JsonCodec(), options,
                                 state=(RecordingState(self.events),), sleep=lambda _s: None,
                                 clock=lambda: self.now)
        self.loop.producer.close(0.1)  # the real transactional producer is never used
        self.loop.producer = self.producer  # type: ignore[assignment]
        monkeypatch.setattr("bus.runtime.consumer.Consumer", self.consumer)

    def handle(self, event: dict[str, Any], ctx: Context) -> None:
        self.events.append(f"handle {event['n']} (attempt {ctx.attempt})")
        kind = event.get("kind")
        if kind == "transient" and self.transient_left.setdefault(ctx.offset, 1) > 0:
            self.transient_left[ctx.offset] -= 1
            raise TransientError("the API answered 503")
        if kind == "permanent":
            raise PermanentError("cannot be interpreted")
        if kind == "duplicate":
            raise Duplicate()
        self.now += float(event.get("seconds", 0))
        ctx.emit("out.v1", {"n": event["n"]}, key=str(event["n"]))

    def run(self) -> None:
        self.loop.run(self.stop)


def test_state_is_assigned_before_handling_and_follows_attempts_and_the_commit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(monkeypatch, [[_msg(0, {"n": 1}), _msg(1, {"n": 2, "kind": "transient"}),
                           _msg(2, {"n": 3, "kind": "permanent"}), _msg(3, {"n": 4, "kind": "duplicate"})]])
    world.run()
    assert world.events == [
        "assign", "state.assigned [0]",
        "begin",
        "state.attempt_started", "handle 1 (attempt 1)", "state.message_done",
        "state.attempt_started", "handle 2 (attempt 1)",
        "state.attempt_started", "handle 2 (attempt 2)", "state.message_done",
        "state.attempt_started", "handle 3 (attempt 1)",  # dead-lettered: its writes are not kept
        "state.attempt_started", "handle 4 (attempt 1)",  # a duplicate: nothing kept either
        "commit", "state.committed"]
    assert world.producer.topics() == ["out.v1", "out.v1", "dlq.svc"]
    assert world.producer.offsets == [[(TOPIC, 0, 4)]], "the consumed offsets commit with the outputs"
    assert world.consumer.closed


def test_an_aborted_transaction_tells_the_state_and_rewinds_to_the_committed_offsets(
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(monkeypatch, [[_msg(0, {"n": 1})], [_msg(0, {"n": 1})]], fail_commits=1)
    world.run()
    assert world.events == [
        "assign", "state.assigned [0]",
        "begin", "state.attempt_started", "handle 1 (attempt 1)", "state.message_done",
        "commit failed", "state.aborted", "abort",
        "begin", "state.attempt_started", "handle 1 (attempt 1)", "state.message_done",
        "commit", "state.committed"]
    assert world.consumer.seeks == [(TOPIC, 0, 0)], "rewound to the committed offset"
    assert world.producer.topics() == ["out.v1"], "the aborted outputs never reached readers"


def test_a_produce_refused_in_an_erroneous_transaction_aborts_and_rewinds_instead_of_ending_the_loop(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # found by the chaos suite: a broker lost mid-transaction left the producer in an abortable
    # error state; the next produce raised _STATE (not flagged txn_requires_abort) and order-capture's
    # intake stage exited
    world = World(monkeypatch, [[_msg(0, {"n": 1})], [_msg(0, {"n": 1})]], fail_produces=1)
    world.run()
    assert world.events == [
        "assign", "state.assigned [0]",
        "begin", "state.attempt_started", "handle 1 (attempt 1)", "state.message_done", "produce failed",
        "state.aborted", "abort",
        "begin", "state.attempt_started", "handle 1 (attempt 1)", "state.message_done",
        "commit", "state.committed"]
    assert world.consumer.seeks == [(TOPIC, 0, 0)], "rewound to the committed offset"
    assert world.producer.topics() == ["out.v1"]


def test_partition_state_requires_exactly_once() -> None:
    with pytest.raises(ValueError, match="exactly_once"):
        ConsumerLoop("svc", HandlerRegistry(), UNREACHABLE_KAFKA.client_config(), JsonCodec(),
                     LoopOptions(group_id="g"), state=(RecordingState([]),))


def test_a_transaction_past_half_its_timeout_commits_what_is_handled_and_puts_the_rest_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Slow messages (an API retried at length) must not run a transaction past its timeout: the
    broker would abort it, and the same batch again, forever."""
    world = World(monkeypatch, [[_msg(0, {"n": 1, "seconds": 4}), _msg(1, {"n": 2, "seconds": 4}),
                                 _msg(2, {"n": 3}), _msg(3, {"n": 4})]], transaction_timeout=14)
    world.run()
    handled = [e for e in world.events if e.startswith("handle")]
    assert handled == ["handle 1 (attempt 1)", "handle 2 (attempt 1)"], "7 s is half of 14: the rest waits"
    assert world.consumer.seeks == [(TOPIC, 0, 2)], "put back from the first message not handled"
    assert world.producer.offsets == [[(TOPIC, 0, 2)]], "the committed offset is where it stopped"
    assert world.producer.topics() == ["out.v1", "out.v1"]
