"""The single-node broker's internal-topic settings let transactions commit."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition


def _read_to_end(bootstrap: str, topic: str, isolation: str) -> list[bytes]:
    """Every value readable at this isolation level, reading partition 0 up to its end."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}.{isolation}",
                         "isolation.level": isolation, "enable.auto.commit": False})
    partition = TopicPartition(topic, 0, OFFSET_BEGINNING)
    _low, end = consumer.get_watermark_offsets(partition, timeout=30)
    consumer.assign([partition])
    values: list[bytes] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        batch = consumer.consume(num_messages=100, timeout=0.5)
        values += [m.value() for m in batch if not m.error() and m.value() is not None]
        position = consumer.position([TopicPartition(topic, 0)])[0].offset
        if position >= end:
            break
    consumer.close()
    return values


def test_transactional_producer_commits_and_aborts(kafka_bootstrap: str,
                                                   new_topic: Callable[..., str]) -> None:
    topic = new_topic("txn", partitions=1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": f"{topic}.tx"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(5):
        producer.produce(topic, value=f"committed-{i}".encode())
    producer.commit_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"aborted")
    producer.flush(30)  # on the broker, so the abort has something to hide
    producer.abort_transaction(30)

    committed = _read_to_end(kafka_bootstrap, topic, "read_committed")
    assert committed == [f"committed-{i}".encode() for i in range(5)]
    assert b"aborted" in _read_to_end(kafka_bootstrap, topic, "read_uncommitted")
