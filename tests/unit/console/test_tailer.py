"""The index tailer on a fake consumer and decoder: rebuild, progress, tailing, new topics, bad records."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, TopicPartition
from prometheus_client import CollectorRegistry

from bus.errors import SerializationError, TransientError
from services.console.index import JourneyIndex
from services.console.tailer import IndexTailer
from tests.unit.console.test_index import ORDER, T0, Topic, audit, placed

EOF = KafkaError(KafkaError._PARTITION_EOF)


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int, entry: tuple[Any, ...] | None,
                 error: KafkaError | None = None) -> None:
        self._t, self._p, self._o, self._e = topic, partition, offset, error
        self._key, self._value, self._headers, self._ts = entry or (None, None, None, 0)

    def error(self) -> KafkaError | None:
        return self._e

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def timestamp(self) -> tuple[int, int]:
        return 1, self._ts

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers


class FakeBroker:
    """Topics as lists of (key, value bytes, headers, timestamp) per partition."""

    undescribed: dict[str, object]
    """Topics whose metadata answers with an error (no leader for a moment), by name."""

    def __init__(self) -> None:
        self.undescribed = {}
        self.leaderless: set[tuple[str, int]] = set()  # partitions whose metadata has an error
        self.unknown_offsets: set[tuple[str, int]] = set()  # watermarks answered as -1001
        self.topics: dict[str, list[list[tuple[Any, ...]]]] = {}
        self.lock = threading.Lock()

    def produce(self, topic: str, value: bytes, partition: int = 0, headers: Any = None,
                ts: int = T0) -> None:
        with self.lock:
            parts = self.topics.setdefault(topic, [[], []])
            parts[partition].append((ORDER.encode(), value, headers, ts))

    def consumer(self) -> FakeConsumer:
        return FakeConsumer(self)


class FakeConsumer:
    def __init__(self, broker: FakeBroker) -> None:
        self.broker, self.at, self.eof_sent, self.closed = broker, {}, set(), False

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        with self.broker.lock:
            return SimpleNamespace(topics={name: SimpleNamespace(
                partitions={p: SimpleNamespace(error=KafkaError(KafkaError.LEADER_NOT_AVAILABLE)
                                               if (name, p) in self.broker.leaderless else None)
                            for p in range(len(parts))},
                error=self.broker.undescribed.get(name)) for name, parts in self.broker.topics.items()})

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float = -1) -> tuple[int, int]:
        if (tp.topic, tp.partition) in self.broker.unknown_offsets:
            return -1001, -1001
        return 0, len(self.broker.topics[tp.topic][tp.partition])

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.at[(tp.topic, tp.partition)] = max(tp.offset, 0)

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[FakeMessage]:
        out: list[FakeMessage] = []
        with self.broker.lock:
            for (topic, partition), offset in self.at.items():
                log = self.broker.topics[topic][partition]
                while offset < len(log) and len(out) < num_messages:
                    out.append(FakeMessage(topic, partition, offset, log[offset]))
                    offset += 1
                self.at[(topic, partition)] = offset
                if offset == len(log) and (topic, partition, offset) not in self.eof_sent:
                    self.eof_sent.add((topic, partition, offset))
                    out.append(FakeMessage(topic, partition, offset, None, EOF))
        if not out:
            time.sleep(min(timeout, 0.01))
        return out

    def close(self) -> None:
        self.closed = True


class Values:
    """A decoder over a table of values: each value is produced as its table key."""

    def __init__(self) -> None:
        self.table: dict[bytes, Any] = {}
        self.hook: Callable[[bytes], None] = lambda data: None

    def put(self, value: Any) -> bytes:
        token = f"v{len(self.table)}".encode()
        self.table[token] = value
        return token

    def decode(self, topic: str, data: bytes) -> Any:
        self.hook(data)
        if data not in self.table:
            raise SerializationError(f"{topic}: bad magic byte")
        return self.table[data]


@pytest.fixture
def index(tmp_path: Path) -> Iterator[JourneyIndex]:
    idx = JourneyIndex(tmp_path / "index.sqlite")
    yield idx
    idx.close()


def running(tailer: IndexTailer) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=tailer.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def wait(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_rebuild_then_tail_then_new_dead_letter_topics(index: JourneyIndex) -> None:
    broker, values, registry = FakeBroker(), Values(), CollectorRegistry()
    order = Topic("orders.placed.v1").record(placed(1042), T0)
    broker.produce("orders.placed.v1", values.put(order.value))
    broker.produce("bus.audit.v1", values.put(audit("inventory-sync", "reserve_stock", "OK", T0 + 1, order)))
    broker.produce("bus.audit.v1", b"\x00\x00\x00\x00\x09garbage", partition=1)
    broker.produce("customers.profiles.v1", values.put({"not": "indexed"}))
    tailer = IndexTailer(index, broker.consumer, values.decode, registry, batch_size=2, refresh_seconds=0.05,
                         poll_seconds=0.01)
    stop, thread = running(tailer)
    try:
        assert tailer.caught_up.wait(10)
        assert tailer.progress() == (3, 3, True) and tailer.status() == "index current"
        sample = registry.get_sample_value
        assert sample("ecombus_console_index_ready") == 1
        assert sample("ecombus_console_index_records_total", {"topic": "bus.audit.v1"}) == 2
        assert sample("ecombus_console_index_skipped_total", {"topic": "bus.audit.v1"}) == 1
        journey = index.journey(ORDER)
        assert journey is not None
        assert [s.label for s in journey.steps] == ["order placed", "stock reservation made"]
        assert index.next_offsets() == {("orders.placed.v1", 0): 1, ("bus.audit.v1", 0): 1,
                                        ("bus.audit.v1", 1): 1}

        broker.produce("bus.audit.v1", values.put(audit("router", "orders-to-erp-csv", "OK", T0 + 2, order)))
        assert wait(lambda: len(index.journey(ORDER).steps) == 3)  # type: ignore[union-attr]

        origin = [("__connect.errors.topic", b"orders.placed.v1"), ("__connect.errors.offset", b"0")]
        broker.produce("dlq.router", b"\x00original", headers=origin)
        assert wait(lambda: len(index.dead_letters()) == 1)
        assert index.dead_letters()[0].order_id is None and index.dead_letters()[0].service == "router"
        assert wait(lambda: sample("ecombus_console_index_lag_records") == 0)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_progress_is_reported_while_rebuilding(index: JourneyIndex) -> None:
    broker, values = FakeBroker(), Values()
    source = Topic("orders.placed.v1").record(placed(1), T0)
    tokens = [values.put(audit("router", "h", "OK", T0 + n, source)) for n in range(5)]
    for token in tokens:
        broker.produce("bus.audit.v1", token)
    gate, held = threading.Event(), threading.Event()

    def hold_at_fourth(data: bytes) -> None:
        if data == tokens[3]:
            held.set()
            gate.wait(10)

    values.hook = hold_at_fourth
    registry = CollectorRegistry()
    tailer = IndexTailer(index, broker.consumer, values.decode, registry, batch_size=1, poll_seconds=0.01)
    stop, thread = running(tailer)
    try:
        assert held.wait(10)
        assert not tailer.ready and tailer.status() == "index rebuilding: 3 of 5"
        assert tailer.progress().text == "index rebuilding: 3 of 5" and not tailer.progress().ready
        assert registry.get_sample_value("ecombus_console_index_lag_records") == 2
        assert registry.get_sample_value("ecombus_console_index_ready") == 0
        assert index.stats().tables["steps"] == 3  # each batch committed: pages see it while it goes on
        gate.set()
        assert tailer.caught_up.wait(10) and index.stats().tables["steps"] == 5
    finally:
        gate.set()
        stop.set()
        thread.join(10)


def test_a_registry_outage_holds_the_record_instead_of_skipping_it(index: JourneyIndex) -> None:
    broker, values, registry = FakeBroker(), Values(), CollectorRegistry()
    order = Topic("orders.placed.v1").record(placed(7), T0)
    broker.produce("orders.placed.v1", values.put(order.value))
    failures = [TransientError("registry unreachable")] * 2

    def flaky(data: bytes) -> None:
        if failures:
            raise failures.pop()

    values.hook = flaky
    tailer = IndexTailer(index, broker.consumer, values.decode, registry, poll_seconds=0.01)
    stop, thread = running(tailer)
    try:
        assert tailer.caught_up.wait(10)
        assert index.stats().tables["orders"] == 1 and failures == []
        assert registry.get_sample_value("ecombus_console_index_skipped_total",
                                         {"topic": "orders.placed.v1"}) is None
    finally:
        stop.set()
        thread.join(10)


def test_empty_topics_are_caught_up_at_once(index: JourneyIndex) -> None:
    broker = FakeBroker()
    broker.topics["bus.audit.v1"] = [[], []]
    tailer = IndexTailer(index, broker.consumer, Values().decode, poll_seconds=0.01)
    stop, thread = running(tailer)
    try:
        assert tailer.caught_up.wait(5) and tailer.progress() == (0, 0, True)
    finally:
        stop.set()
        thread.join(10)


def test_a_topic_the_metadata_cannot_describe_keeps_the_rebuild_open_until_it_is_read(
        index: JourneyIndex) -> None:
    broker = FakeBroker()
    broker.topics["bus.audit.v1"] = [[]]
    broker.topics["orders.placed.v1"] = [[]]
    broker.produce("orders.placed.v1", b"placed")
    broker.undescribed["orders.placed.v1"] = KafkaError(KafkaError.LEADER_NOT_AVAILABLE)
    tailer = IndexTailer(index, broker.consumer, Values().decode, poll_seconds=0.01)
    stop, thread = running(tailer)
    try:
        assert not tailer.caught_up.wait(0.5), "caught up while a topic was not read"
        broker.undescribed.clear()
        assert tailer.caught_up.wait(10)
        assert tailer.progress().done == 1
    finally:
        stop.set()
        thread.join(10)


@pytest.mark.parametrize("how", ["a partition without a leader", "watermarks not known yet"])
def test_a_partition_not_answered_for_keeps_the_rebuild_open_until_it_is_read(
        index: JourneyIndex, how: str) -> None:
    broker = FakeBroker()
    broker.topics["bus.audit.v1"] = [[]]
    broker.topics["orders.placed.v1"] = [[], []]
    broker.produce("orders.placed.v1", b"placed", partition=1)
    held_back = broker.leaderless if how.startswith("a partition") else broker.unknown_offsets
    held_back.add(("orders.placed.v1", 1))
    tailer = IndexTailer(index, broker.consumer, Values().decode, poll_seconds=0.01)
    stop, thread = running(tailer)
    try:
        assert not tailer.caught_up.wait(0.5), f"caught up with {how}"
        broker.leaderless.clear()
        broker.unknown_offsets.clear()
        assert tailer.caught_up.wait(10)
        assert tailer.progress().done == 1
    finally:
        stop.set()
        thread.join(10)
