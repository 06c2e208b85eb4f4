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
