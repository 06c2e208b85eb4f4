"""A dead letter replayed for one service (``ecombus.replay.for``) is handled by that service only:
every other service consuming the topic hands it to no handler, counts it as skipped and moves on."""

from __future__ import annotations

from collections import deque
from typing import Any

from prometheus_client import CollectorRegistry

from bus.observability.metrics import RuntimeMetrics
from bus.runtime.codec import JsonCodec
from bus.runtime.consumer import ConsumerLoop, LoopOptions
from bus.runtime.dlq import REPLAY_FOR, REPLAYED_FROM
from bus.runtime.handlers import Consumed, Context, HandlerRegistry
from bus.runtime.hooks import RuntimeHooks
from bus.runtime.retry import RetryPolicy
from tests.unit.runtime.fakes import UNREACHABLE_KAFKA


class Producer:
    def __init__(self) -> None:
        self.records: list[tuple[str, Any]] = []

    def produce(self, topic: str, value: Any, key: Any = None, headers: Any = None,
                timestamp: Any = None, on_delivery: Any = None, partition: Any = None) -> None:
        self.records.append((topic, value))
        if on_delivery is not None:
            on_delivery(None, None)

    def poll(self, _timeout: float = 0) -> int:
        return 0


class Consumer:
    def __init__(self) -> None:
        self.stored: list[int] = []

    def store_offsets(self, offsets: Any) -> None:
        self.stored += [tp.offset for tp in offsets]


def loop_of(service: str, handled: list[int], registry: CollectorRegistry) -> tuple[ConsumerLoop, Producer]:
    handlers = HandlerRegistry()

    @handlers.handler("orders.placed.v1", name="reserve")
    def reserve(event: Any, ctx: Context) -> None:
        handled.append(ctx.offset)
        ctx.emit("inventory.reservations.v1", {"order_id": event["order_id"]})

    producer = Producer()
    hooks = RuntimeHooks(service, RuntimeMetrics(service, registry))
    loop = ConsumerLoop(service, handlers, UNREACHABLE_KAFKA.client_config(), JsonCodec(),
                        LoopOptions(group_id="g", retry=RetryPolicy(max_attempts=1)),
                        producer=producer, hooks=hooks)  # type: ignore[arg-type]
    loop._assigned.add(("orders.placed.v1", 0))
    return loop, producer


def message(offset: int, headers: list[tuple[str, bytes]]) -> Consumed:
    return Consumed("orders.placed.v1", 0, offset, b"o-1", b'{"order_id": "o-1"}', headers, None)


def test_a_replay_for_another_service_runs_no_handler_and_its_offset_moves_on() -> None:
    handled: list[int] = []
    registry = CollectorRegistry()
    loop, producer = loop_of("inventory-sync", handled, registry)
    consumer = Consumer()
    replay = [(REPLAYED_FROM, b"dlq.crm-updater/0/7"), (REPLAY_FOR, b"crm-updater")]
    for offset, headers in ((1, []), (2, replay), (3, [(REPLAY_FOR, b"inventory-sync")])):
        pending = loop._process(message(offset, headers))
        loop._in_flight.setdefault(("orders.placed.v1", 0), deque()).append(pending)
    loop._store_acknowledged(consumer)  # type: ignore[arg-type]
    assert handled == [1, 3], "the replay for crm-updater was not handed to inventory-sync's handler"
    assert [topic for topic, _ in producer.records] == ["inventory.reservations.v1"] * 2
    assert consumer.stored == [4], "the skipped record is committed as processed"
    sample = registry.get_sample_value
    labels = {"service": "inventory-sync", "topic": "orders.placed.v1", "handler": "reserve"}
    assert sample("ecombus_messages_processed_total", {**labels, "outcome": "skipped"}) == 1
    assert sample("ecombus_messages_processed_total", {**labels, "outcome": "ok"}) == 2


def test_a_replay_for_this_service_is_handled_like_any_record() -> None:
    handled: list[int] = []
    loop, _ = loop_of("crm-updater", handled, CollectorRegistry())
    outputs = loop._outcome(message(5, [(REPLAY_FOR, b"crm-updater")]))
    assert handled == [5] and len(outputs) == 1
    assert loop._outcome(message(6, [(REPLAY_FOR, b"router")])) == [], "exactly-once shares this path"
    assert handled == [5]
