"""Compacted tables and reading to the end, against the real broker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from bus.errors import TransientError
from bus.runtime.producer import BusProducer
from bus.runtime.table import CompactedTable, read_to_end
from bus.topics import TopicSpec, ensure_topics
from tests.integration.runtime.kafka_io import wait_for


class Folded:
    """A table's state the way its owners keep one: key → value, tombstones delete."""

    def __init__(self) -> None:
        self.values: dict[bytes, bytes] = {}
        self.lock = threading.Lock()

    def __call__(self, key: bytes | None, value: bytes | None, _msg: Any) -> None:
        assert key is not None
        with self.lock:
            if value is None:
                self.values.pop(key, None)
            else:
                self.values[key] = value

    def get(self, key: bytes) -> bytes | None:
        with self.lock:
            return self.values.get(key)


def _spec(name: str) -> TopicSpec:
    return TopicSpec(name=name, partitions=1, config={"cleanup.policy": "compact", "retention.ms": "3600000"})


def _topic_with(client: dict[str, Any], topic: str, records: dict[bytes, bytes]) -> str:
    """Create ``topic`` (compacted, 1 partition) holding ``records``; returns its name."""
    ensure_topics(client, [_spec(topic)], timeout=30)
    producer = BusProducer(client)
    for key, value in records.items():
        producer.produce(topic, value, key=key)
    assert producer.flush(30) == 0
    return topic


def _end(bootstrap: str, topic: str, isolation: str) -> int:
    """Partition 0's end as a consumer at ``isolation`` sees it (read_committed: the last stable offset)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks-unused",
                         "isolation.level": isolation})
    try:
        return int(consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)[1])
    finally:
        consumer.close()


def test_load_reads_to_the_end_past_tombstones_and_a_commit_marker(
        kafka_bootstrap: str, unique_topic: Callable[[str], str]) -> None:
    client = {"bootstrap.servers": kafka_bootstrap}
    topic = unique_topic("table")
    plain = BusProducer(client)
    writer = CompactedTable(client, topic, Folded(), spec=_spec(topic), producer=plain)
    writer.load(30, tail=False)  # creates the topic
    writer.put(b"a", b"1")
    writer.put(b"b", b"2")
    writer.tombstone(b"a")
    assert plain.flush(30) == 0
    txn = Producer({**client, "transactional.id": f"{topic}.tx"})
    txn.init_transactions(30)
    txn.begin_transaction()
    CompactedTable(client, topic, Folded(), producer=txn).put(b"c", b"3")  # inside the transaction
    txn.commit_transaction(30)
    # the commit marker is written just after commit_transaction returns; read once it is there
    assert wait_for(lambda: _end(kafka_bootstrap, topic, "read_uncommitted") == 5, timeout=20), \
        "4 records and the commit marker"
    assert wait_for(lambda: _end(kafka_bootstrap, topic, "read_committed") == 5, timeout=20)

    state = Folded()
    reader = CompactedTable(client, topic, state)
    started = time.monotonic()
    reader.load(30, tail=False)
    assert time.monotonic() - started < 15, "the marker at the end must not hold the load to its deadline"
    assert state.values == {b"b": b"2", b"c": b"3"}
    assert reader.loaded and reader.wait_applied(0, 3, timeout=0)


def test_put_and_tombstone_reach_a_second_table_tailing(
        kafka_bootstrap: str, unique_topic: Callable[[str], str]) -> None:
    client = {"bootstrap.servers": kafka_bootstrap}
    topic = unique_topic("tail")
    producer = BusProducer(client)
    mine, theirs = Folded(), Folded()
    writer = CompactedTable(client, topic, mine, spec=_spec(topic), producer=producer)
    follower = CompactedTable(client, topic, theirs, spec=_spec(topic))
    writer.load(30)
    follower.load(30)
    try:
        assert follower.tailing
        writer.put(b"cursor", b"2026-01-01T00:00:00Z")
        assert producer.flush(30) == 0
        assert wait_for(lambda: theirs.get(b"cursor") == b"2026-01-01T00:00:00Z", timeout=20)
        assert wait_for(lambda: mine.get(b"cursor") is not None, timeout=20), "the writer tails its own write"
        writer.tombstone(b"cursor")
        assert producer.flush(30) == 0
        assert wait_for(lambda: b"cursor" not in theirs.values, timeout=20), "the tombstone never arrived"
    finally:
        writer.close()
        follower.close()
    assert not follower.tailing


def test_creation_with_config_is_idempotent_twice_and_concurrently(
        kafka_bootstrap: str, unique_topic: Callable[[str], str]) -> None:
    client = {"bootstrap.servers": kafka_bootstrap}
    spec = TopicSpec(name=unique_topic("create"), partitions=2,
                     config={"cleanup.policy": "compact,delete", "retention.ms": "7200000"})
    created: list[list[str]] = []
    failures: list[BaseException] = []

    def create() -> None:
        try:
            created.append(ensure_topics(client, [spec], timeout=30))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    assert sorted(created) == [[], [], [], [spec.name]], "exactly one call created it"
    assert ensure_topics(client, [spec], timeout=30) == []

    admin = AdminClient(client)
    assert len(admin.list_topics(spec.name, timeout=30).topics[spec.name].partitions) == 2
    resource = ConfigResource(ResourceType.TOPIC, spec.name)
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    assert configs["cleanup.policy"].value == "compact,delete"
    assert configs["retention.ms"].value == "7200000"


def test_read_committed_reads_what_is_committed_and_does_not_wait_for_an_open_transaction(
        kafka_bootstrap: str, unique_topic: Callable[[str], str]) -> None:
    client = {"bootstrap.servers": kafka_bootstrap}
    topic = _topic_with(client, unique_topic("lso"), {b"k1": b"committed"})
    txn = Producer({**client, "transactional.id": f"{topic}.tx"})
    txn.init_transactions(30)
    txn.begin_transaction()
    txn.produce(topic, b"pending", b"k2")
    assert txn.flush(30) == 0  # on the broker, so the last stable offset stays below it
    try:
        started = time.monotonic()
        assert [m.value() for m in read_to_end(client, topic, timeout=30)] == [b"committed"]
        state = Folded()
        CompactedTable(client, topic, state).load(30, tail=False)
        assert state.values == {b"k1": b"committed"}
        assert time.monotonic() - started < 20
    finally:
        txn.abort_transaction(30)


def test_read_to_end_past_its_deadline_raises_rather_than_return_a_part(
        kafka_bootstrap: str, unique_topic: Callable[[str], str]) -> None:
    client = {"bootstrap.servers": kafka_bootstrap}
    topic = _topic_with(client, unique_topic("late"), {str(i).encode(): b"v" for i in range(3000)})
    consumer = Consumer({**client, "group.id": f"{topic}.reader", "enable.auto.commit": False})
    try:
        consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)  # connected first
        read: list[bytes | None] = []
        left = rf"{topic}: not read to its end within 0s \(partitions \[0\] left"
        with pytest.raises(TransientError, match=left):
            for msg in read_to_end(consumer, topic, timeout=0):
                read.append(msg.key())
        assert read == [], "nothing is passed off as the topic"
    finally:
        consumer.close()
