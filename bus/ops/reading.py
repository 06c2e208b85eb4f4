"""Read a topic from given offsets up to its end as it was when reading started, or read given records.

Thin wrappers of :mod:`bus.runtime.table` in the shape the ops commands use (start offsets as
``TopicPartition`` lists, such as ``Consumer.committed`` and ``offsets_for_times`` return), and
:func:`fetch`, the records at given positions (a dead letter shown or replayed).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from bus.errors import TransientError
from bus.runtime import table
from bus.runtime.handlers import Consumed
from bus.runtime.table import partitions_of
from bus.settings import ClientConfig

__all__ = ["fetch", "partitions_of", "read_to_end"]


def read_to_end(consumer: Consumer, starts: list[TopicPartition],
                timeout: float = 60.0) -> Iterator[Message]:
    """Yield every record from ``starts`` (one topic) up to each partition's end offset at call time.

    Offsets below 0 (no commit) start from the beginning.

    Raises:
        TransientError: the end was not reached within ``timeout`` seconds.
    """
    if not starts:
        return iter(())
    return table.read_to_end(consumer, starts[0].topic, timeout,
                             starts={tp.partition: tp.offset for tp in starts})


def fetch(client: ClientConfig, topic: str, offsets: Iterable[tuple[int, int]],
          timeout: float = 30.0) -> dict[tuple[int, int], Consumed]:
    """The records of ``topic`` at the given (partition, offset) pairs, read directly.

    Each partition is read from its first wanted offset to its last (not to its end), under
    read_committed. A pair absent from the result does not exist (deleted by retention, never
    written, or in an aborted transaction).

    Raises:
        ConfigError: the topic does not exist.
        TransientError: the wanted range was not read within ``timeout`` seconds.
    """
    wanted: dict[int, set[int]] = {}
    for partition, offset in offsets:
        wanted.setdefault(partition, set()).add(offset)
    if not wanted:
        return {}
    consumer = Consumer({**client, "group.id": f"{topic}.reader", "enable.auto.commit": False,
                         "isolation.level": "read_committed", "enable.partition.eof": True,
                         "auto.offset.reset": "earliest"})
    found: dict[tuple[int, int], Consumed] = {}
    try:
        known = set(partitions_of(consumer, topic, timeout))
        last = {p: max(o) for p, o in wanted.items() if p in known}
        consumer.assign([TopicPartition(topic, p, min(wanted[p])) for p in last])
        deadline = time.monotonic() + timeout
        while last:
            if time.monotonic() > deadline:
                raise TransientError(f"{topic}: partitions {sorted(last)} not read within {timeout:.0f}s")
            for msg in consumer.consume(num_messages=500, timeout=0.2):
                partition, offset = msg.partition() or 0, msg.offset() or 0
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        last.pop(partition, None)
                    continue
                if offset in wanted.get(partition, ()):
                    found[(partition, offset)] = Consumed.of(msg)
                if offset >= last.get(partition, offset + 1):
                    last.pop(partition, None)
        return found
    finally:
        consumer.close()
