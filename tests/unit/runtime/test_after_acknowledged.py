"""Context.after_acknowledged: a handler's actions run once its outputs were acknowledged, never
after a failed delivery (the loop's at-least-once bookkeeping, driven without a broker)."""

from __future__ import annotations

from collections import deque
from typing import Any

from bus.runtime.codec import JsonCodec
from bus.runtime.consumer import ConsumerLoop, LoopOptions
from bus.runtime.handlers import Consumed, Context, HandlerRegistry
from bus.runtime.retry import RetryPolicy
from tests.unit.runtime.fakes import UNREACHABLE_KAFKA


class Producer:
    """Keeps each record's delivery callback for the test to call."""

    def __init__(self) -> None:
        self.callbacks: list[Any] = []

    def produce(self, topic: str, value: Any, key: Any = None, headers: Any = None,
                timestamp: Any = None, on_delivery: Any = None, partition: Any = None) -> None:
        self.callbacks.append(on_delivery)

    def poll(self, _timeout: float = 0) -> int:
        return 0


class Consumer:
    def __init__(self) -> None:
        self.stored: list[int] = []
        self.seeks: list[int] = []

    def store_offsets(self, offsets: Any) -> None:
        self.stored += [tp.offset for tp in offsets]

    def seek(self, tp: Any) -> None:
        self.seeks.append(tp.offset)


def test_actions_run_after_the_outputs_were_acknowledged_and_never_after_a_failure() -> None:
    ran: list[int] = []
    handlers = HandlerRegistry()

    @handlers.handler("in.v1")
    def handle(event: Any, ctx: Context) -> None:
        ctx.emit("out.v1", event)
        ctx.after_acknowledged(lambda: ran.append(ctx.offset))

    producer = Producer()
    loop = ConsumerLoop("t", handlers, UNREACHABLE_KAFKA.client_config(), JsonCodec(),
                        LoopOptions(group_id="g", retry=RetryPolicy(max_attempts=1)),
                        producer=producer)  # type: ignore[arg-type]
    loop._assigned.add(("in.v1", 0))
    consumer = Consumer()
    for offset in (1, 2):
        message = Consumed("in.v1", 0, offset, None, b'{"n": 1}', [], None)
        loop._in_flight.setdefault(("in.v1", 0), deque()).append(loop._process(message))
    loop._store_acknowledged(consumer)  # type: ignore[arg-type]
    assert ran == [], "nothing acknowledged yet"
    first, second = producer.callbacks
    first(None, None)
    loop._store_acknowledged(consumer)  # type: ignore[arg-type]
    assert (ran, consumer.stored) == ([1], [2])
    second("broker down", None)
    loop._store_acknowledged(consumer)  # type: ignore[arg-type]
    assert (ran, consumer.seeks) == ([1], [2]), "a failed delivery rewinds and runs no action"


class Processed:
    """Stands in for ProcessedEvents: which event ids were marked handled."""

    def __init__(self) -> None:
        self.marked: set[str] = set()
        self.claimed: set[str] = set()

    def seen(self, event_id: str) -> bool:
        return event_id in self.marked or event_id in self.claimed

    def claim(self, event_id: str) -> None:
        self.claimed.add(event_id)

    def release_claims(self) -> None:
        self.claimed.clear()

    def mark(self, event_id: str) -> None:
        self.marked.add(event_id)
        self.claimed.discard(event_id)


def test_a_side_effect_event_is_marked_handled_only_once_its_outputs_were_acknowledged() -> None:
    # found by the chaos suite: the mark was taken as soon as the handler returned, so an event
    # whose status record then failed to be delivered was skipped as a duplicate when the loop
    # rewound to it, and the order never reached DELIVERED
    handled: list[int] = []
    handlers = HandlerRegistry()

    @handlers.handler("in.v1", side_effects=True)
    def handle(event: Any, ctx: Context) -> None:
        handled.append(ctx.offset)
        ctx.emit("out.v1", event)

    producer, processed = Producer(), Processed()
    loop = ConsumerLoop("t", handlers, UNREACHABLE_KAFKA.client_config(), JsonCodec(),
                        LoopOptions(group_id="g", retry=RetryPolicy(max_attempts=1)),
                        producer=producer, processed=processed)  # type: ignore[arg-type]
    loop._assigned.add(("in.v1", 0))
    consumer = Consumer()
    message = Consumed("in.v1", 0, 7, None, b'{"meta": {"event_id": "e-7"}}', [], None)
    loop._in_flight.setdefault(("in.v1", 0), deque()).append(loop._process(message))
    assert processed.marked == set(), "not before the outputs were acknowledged"
    assert loop._process(message).outstanding == 0 and handled == [7], "a second copy in flight: a duplicate"
    producer.callbacks[0]("broker down", None)
    loop._store_acknowledged(consumer)  # type: ignore[arg-type]
    assert consumer.seeks == [7] and processed.marked == set()
    loop._in_flight[("in.v1", 0)].append(loop._process(message))  # the rewound message, again
    assert handled == [7, 7], "handled again, not skipped as a duplicate"
    producer.callbacks[1](None, None)
    loop._store_acknowledged(consumer)  # type: ignore[arg-type]
    assert processed.marked == {"e-7"} and consumer.stored == [8]
