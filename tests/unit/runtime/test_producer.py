"""BusProducer with a full local queue: the async path never blocks or spins the event loop and
gives up within its budget with Unavailable; the sync confirm is bounded by its budget too."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from bus.errors import TransientError, Unavailable
from bus.runtime.producer import BusProducer
from bus.tools.local.broker import free_port


class _Delivered:
    def topic(self) -> str:
        return "orders"

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return 41


class FullQueue:
    """A confluent-kafka Producer whose local queue is full until ``room`` is set.

    ``poll`` blocks for its timeout like the real one and serves the queued delivery. A poll from
    ``forbidden`` (the event loop's thread) raises, so a producer that spins there fails the test
    instead of hanging it; so does a thread that polls ``limit`` times without giving up.
    """

    def __init__(self, limit: int = 200) -> None:
        self.room = threading.Event()
        self.forbidden: threading.Thread | None = None
        self.polls: dict[str, int] = {}
        self.limit = limit
        self._callbacks: list[Callable[[Any, Any], None]] = []
        self._lock = threading.Lock()

    def produce(self, topic: str, value: Any, key: Any = None, **kwargs: Any) -> None:
        if not self.room.is_set():
            raise BufferError("Local: Queue full")
        with self._lock:
            self._callbacks.append(kwargs["on_delivery"])

    def poll(self, timeout: float = 0.0) -> int:
        me = threading.current_thread()
        if me is self.forbidden:
            raise RuntimeError("poll() called on the event loop's thread")
        self.polls[me.name] = self.polls.get(me.name, 0) + 1
        if self.polls[me.name] > self.limit and me.name != "producer-poll":
            raise RuntimeError("still spinning on a full queue")
        with self._lock:
            served, self._callbacks = self._callbacks, []
        for callback in served:
            callback(None, _Delivered())
        if not served:
            threading.Event().wait(min(timeout, 0.02))
        return len(served)

    def flush(self, timeout: float = 0.0) -> int:
        return 0

    def __len__(self) -> int:
        return len(self._callbacks)


def _producer(fake: FullQueue) -> BusProducer:
    producer = BusProducer({"bootstrap.servers": "127.0.0.1:1", "log_level": 0})
    producer._producer = fake  # type: ignore[assignment]
    return producer


async def _while_ticking(call: Callable[[], Any], turns: list[int]) -> Any:
    """Await ``call()`` beside a task that counts its turns on the loop into ``turns[0]``."""
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            turns[0] += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        return await call()
    finally:
        stop.set()
        await task


def test_confirm_async_on_a_full_queue_gives_up_with_unavailable_without_blocking_the_loop() -> None:
    fake = FullQueue()
    producer = _producer(fake)

    turns = [0]

    async def scenario() -> None:
        fake.forbidden = threading.current_thread()
        with pytest.raises(Unavailable, match=r"local queue stayed full for 0\.3s") as refused:
            await _while_ticking(lambda: producer.confirm_async("orders", b"v", timeout=0.3), turns)
        assert isinstance(refused.value, TransientError), "a retryable refusal (503 at the edge)"

    try:
        asyncio.run(scenario())
    finally:
        producer.close(timeout=0)
    assert not fake._callbacks, "nothing was queued"
    assert turns[0] > 1, "other tasks ran on the loop while the queue was full"


def test_confirm_async_queues_once_deliveries_made_room() -> None:
    fake = FullQueue()
    producer = _producer(fake)

    async def scenario() -> tuple[int, int]:
        fake.forbidden = threading.current_thread()

        async def make_room() -> None:
            for _ in range(5):
                await asyncio.sleep(0.01)
            fake.room.set()

        room = asyncio.create_task(make_room())
        stored = await producer.confirm_async("orders", b"v", timeout=30)
        await room
        return stored

    try:
        assert asyncio.run(scenario()) == (2, 41)
    finally:
        producer.close(timeout=0)


def test_sync_confirm_on_a_full_queue_is_bounded_by_its_budget() -> None:
    fake = FullQueue()
    producer = _producer(fake)
    with pytest.raises(Unavailable, match="local queue stayed full"):
        producer.confirm("orders", b"v", timeout=0.2)
    with pytest.raises(Unavailable):
        producer.produce("orders", b"v", timeout=0)
    assert producer.try_produce("orders", b"v") is False
    fake.room.set()
    assert producer.try_produce("orders", b"v") is True


def test_a_real_producer_at_a_closed_port_with_a_one_record_queue() -> None:
    producer = BusProducer({"bootstrap.servers": f"127.0.0.1:{free_port()}", "log_level": 0},
                           **{"queue.buffering.max.messages": 1, "message.timeout.ms": 60_000})

    turns = [0]

    async def scenario() -> int:
        with pytest.raises(TransientError, match="did not acknowledge") as first:
            await producer.confirm_async("orders", b"first", timeout=0.2)  # queued, never acknowledged
        assert not isinstance(first.value, Unavailable)
        with pytest.raises(Unavailable, match="local queue stayed full"):
            await _while_ticking(lambda: producer.confirm_async("orders", b"second", timeout=0.3), turns)
        return producer.pending()

    try:
        assert asyncio.run(scenario()) == 1, "only the first record is queued"
    finally:
        producer.close(timeout=0)
    assert turns[0] > 1, "other tasks ran on the loop while the queue was full"
