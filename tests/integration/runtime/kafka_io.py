"""Small producing/reading helpers for runtime integration tests."""

from __future__ import annotations

import json
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition


def produce_json(bootstrap: str, topic: str, events: list[dict[str, Any]], key_of: Any = None) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for event in events:
        key = str(key_of(event)).encode() if key_of else None
        producer.produce(topic, key=key, value=json.dumps(event).encode())
        producer.poll(0)
    assert producer.flush(30) == 0


def read_all(bootstrap: str, topic: str, *, isolation: str = "read_committed",
             expect: int | None = None, timeout: float = 60.0) -> list[Message]:
    """Every record of ``topic`` (all partitions) up to its end, or until ``expect`` arrived."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader-unused",
                         "enable.auto.commit": False, "isolation.level": isolation})
    metadata = consumer.list_topics(topic, timeout=30)
    parts = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.topics[topic].partitions]
    ends = {}
    for tp in parts:
        low, high = consumer.get_watermark_offsets(tp, timeout=30)
        if high > low:  # an empty partition has nothing to wait for
            ends[tp.partition] = high
    consumer.assign(parts)
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out += [m for m in consumer.consume(500, timeout=0.3) if not m.error()]
        if expect is not None and len(out) >= expect:
            break
        positions = {tp.partition: tp.offset for tp in consumer.position(parts)}
        if expect is None and all(positions.get(p, -1) >= end for p, end in ends.items()):
            break
    consumer.close()
    return out


def wait_for(condition: Any, timeout: float = 60.0, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def end_offsets(bootstrap: str, topic: str) -> int:
    """Sum of the high watermarks of every partition of ``topic``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks-unused"})
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
                   for p in partitions)
    finally:
        consumer.close()


def committed_total(bootstrap: str, topic: str, group: str, *, isolation: str = "read_committed") -> int:
    """Sum of the offsets ``group`` committed on ``topic`` (0 where it committed nothing).

    ``isolation="read_uncommitted"`` answers at once even while a killed member's transaction
    is still open (read_committed asks the broker for stable offsets and waits for it).
    """
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "isolation.level": isolation})
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=30)
        return sum(max(tp.offset, 0) for tp in committed)
    finally:
        consumer.close()
