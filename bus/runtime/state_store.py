"""Taking ownership of Kafka-backed state: fence the previous owner, then read the state back.

Order matters. :func:`fence` first calls ``init_transactions`` with the transactional.id the
runtime's exactly-once loop uses (``<group>.txn``): the broker aborts whatever transaction a
previous instance (SIGKILLed, or a zombie cut off the network) left open, and that instance can
never commit again. Only then does :func:`read_to_end` read the changelog (read_committed, up to
each partition's end), so the state read back matches the committed input offsets exactly and
nothing can be committed behind our back afterwards.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bus.errors import TransientError
from bus.settings import ClientConfig
from bus.tools.ops.reading import partitions_of

log = logging.getLogger(__name__)


def transactional_id(group_id: str) -> str:
    """The transactional.id :class:`bus.runtime.ConsumerLoop` uses for ``group_id``."""
    return f"{group_id}.txn"


def fence(client: ClientConfig, group_id: str, timeout: float = 60.0) -> None:
    """Abort any transaction a previous instance left open and fence that instance out."""
    producer = Producer({**client, "transactional.id": transactional_id(group_id)})
    producer.init_transactions(timeout)
    producer.flush(0)


def ensure_topics(client: ClientConfig, topics: dict[str, tuple[int, dict[str, str]]],
                  timeout: float = 30.0) -> None:
    """Create missing topics, given as name → (partitions, config); ``ecombus topics apply`` does too."""
    admin = AdminClient(client)
    metadata = admin.list_topics(timeout=timeout)
    missing = [name for name in topics if name not in metadata.topics]
    if not missing:
        return
    replicas = min(3, len(metadata.brokers))
    futures = admin.create_topics([NewTopic(n, num_partitions=topics[n][0], replication_factor=replicas,
                                            config=topics[n][1]) for n in missing])
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            log.info("created topic %s", name)
        except Exception as exc:  # another instance created it first
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


def read_to_end(client: ClientConfig, topic: str, timeout: float = 120.0) -> Iterator[Message]:
    """Every committed record of ``topic``, from the beginning to the end as of the call.

    Raises:
        TransientError: the end was not reached within ``timeout`` seconds (a partial state
            must never be mistaken for the whole).
    """
    consumer = Consumer({**client, "group.id": f"{topic}.restore", "enable.auto.commit": False,
                         "isolation.level": "read_committed", "enable.partition.eof": True})
    try:
        ends: dict[int, int] = {}
        for partition in partitions_of(consumer, topic, timeout):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
            if high > low:
                ends[partition] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        deadline = time.monotonic() + timeout
        while ends:
            if time.monotonic() > deadline:
                raise TransientError(f"{topic}: not read to its end within {timeout:.0f}s "
                                     f"(partitions {sorted(ends)} left)")
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                partition, offset = msg.partition() or 0, msg.offset() or 0
                err = msg.error()
                if err is not None and err.code() != KafkaError._PARTITION_EOF:
                    log.warning("%s: %s while reading it back", topic, err)
                    continue
                if err is None and partition in ends and offset < ends[partition]:
                    yield msg
                    offset += 1
                if partition in ends and offset >= ends[partition]:
                    del ends[partition]
    finally:
        consumer.close()
