"""Read a topic from given offsets up to its end as it was when reading started."""

from __future__ import annotations

import time
from collections.abc import Iterator

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from bus.errors import ConfigError


def partitions_of(consumer: Consumer, topic: str, timeout: float = 30.0) -> list[int]:
    """Partition ids of ``topic``; ConfigError naming the topic when it does not exist."""
    metadata = consumer.list_topics(topic, timeout=timeout)
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise ConfigError(f"topic {topic!r} does not exist on this cluster "
                          "('ecombus topics apply' creates the declared topics)")
    return sorted(found.partitions)


def read_to_end(consumer: Consumer, starts: list[TopicPartition],
                timeout: float = 60.0) -> Iterator[Message]:
    """Yield every record from ``starts`` up to each partition's end offset at call time.

    Offsets below 0 (no commit) start from the beginning.
    """
    ends: dict[int, int] = {}
    begin: list[TopicPartition] = []
    for tp in starts:
        _low, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition),
                                                    timeout=timeout)
        start = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
        if start == OFFSET_BEGINNING or start < high:
            ends[tp.partition] = high
            begin.append(TopicPartition(tp.topic, tp.partition, start))
    if not begin:
        return
    consumer.assign(begin)
    remaining = {p for p, high in ends.items() if high > 0}
    deadline = time.monotonic() + timeout
    while remaining and time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=500, timeout=0.5):
            if msg.error():
                continue
            partition, offset = msg.partition() or 0, msg.offset() or 0
            if offset < ends[partition]:
                yield msg
            if offset + 1 >= ends[partition]:
                remaining.discard(partition)
        for tp in consumer.position([TopicPartition(t.topic, t.partition) for t in begin]):
            if tp.offset >= ends.get(tp.partition, 0):
                remaining.discard(tp.partition)
