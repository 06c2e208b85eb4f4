"""Read a topic from given offsets up to its end as it was when reading started.

Thin wrappers of :mod:`bus.runtime.table` in the shape the ops commands use (start offsets as
``TopicPartition`` lists, such as ``Consumer.committed`` and ``offsets_for_times`` return).
"""

from __future__ import annotations

from collections.abc import Iterator

from confluent_kafka import Consumer, Message, TopicPartition

from bus.runtime import table
from bus.runtime.table import partitions_of

__all__ = ["partitions_of", "read_to_end"]


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
