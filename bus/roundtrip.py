"""Prove a cluster works end to end: produce N records with acks=all, consume them in a group.

Used by ``ecombus selftest`` and ``make demo``; a missing or doubled record is reported, never
hidden.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from bus.settings import ClientConfig
from bus.topics import TopicSpec, ensure_topics


@dataclass
class RoundTrip:
    """The outcome of one round trip."""

    topic: str
    produced: int = 0
    consumed: int = 0
    missing: list[int] = field(default_factory=list)
    duplicates: int = 0
    delivery_errors: list[str] = field(default_factory=list)
    produce_seconds: float = 0.0
    consume_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.missing and not self.delivery_errors and self.consumed == self.produced


def round_trip(
    client_config: ClientConfig,
    count: int = 10_000,
    partitions: int = 3,
    timeout: float = 60.0,
    progress: Callable[[str], None] | None = None,
) -> RoundTrip:
    """Produce ``count`` records to a fresh topic, consume them with a new group, then delete both.

    The topic and group are named ``selftest.<random>``: outside the ``ecombus.`` prefix, so the
    lag monitor never reports them.

    Records carry their sequence number, so the consumer can tell exactly which are missing.
    """
    say = progress or (lambda _line: None)
    topic = f"selftest.{uuid.uuid4().hex[:10]}"
    admin = AdminClient(client_config)
    ensure_topics(admin, [TopicSpec(name=topic, partitions=partitions)], timeout=timeout)
    result = RoundTrip(topic=topic)
    try:
        _produce(client_config, topic, count, result, say)
        _consume(client_config, topic, count, result, timeout, say)
    finally:
        admin.delete_topics([topic])[topic].result(timeout=timeout)
        with contextlib.suppress(Exception):  # the group may not exist if nothing was consumed
            admin.delete_consumer_groups([f"{topic}.group"])[f"{topic}.group"].result(timeout=timeout)
    return result


def _produce(config: ClientConfig, topic: str, count: int, result: RoundTrip,
             say: Callable[[str], None]) -> None:
    producer = Producer({**config, "enable.idempotence": True, "acks": "all",
                         "compression.type": "zstd", "linger.ms": 10})

    def delivered(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            result.delivery_errors.append(str(err))

    start = time.monotonic()
    for seq in range(count):
        while True:
            try:
                producer.produce(topic, key=str(seq % 97).encode(), value=str(seq).encode(),
                                 on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(60)
    if remaining:
        result.delivery_errors.append(f"{remaining} records not delivered within 60s")
    result.produced = count - len(result.delivery_errors)
    result.produce_seconds = time.monotonic() - start
    say(f"produced {count} records with acks=all in {result.produce_seconds:.2f}s")


def _consume(config: ClientConfig, topic: str, count: int, result: RoundTrip, timeout: float,
             say: Callable[[str], None]) -> None:
    consumer = Consumer({**config, "group.id": f"{topic}.group", "auto.offset.reset": "earliest",
                         "enable.auto.offset.store": False})
    seen = [0] * count
    start = time.monotonic()
    try:
        consumer.subscribe([topic])
        deadline = start + timeout
        while result.consumed < count and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                if msg.error():
                    raise KafkaException(msg.error())
                seq = int(msg.value() or b"")  # every record carries its number
                result.duplicates += seen[seq] > 0
                seen[seq] += 1
                result.consumed += seen[seq] == 1
                consumer.store_offsets(message=msg)
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    result.consume_seconds = time.monotonic() - start
    result.missing = [i for i, n in enumerate(seen) if n == 0]
    say(f"consumed {result.consumed} records in group {topic}.group in "
        f"{result.consume_seconds:.2f}s ({len(result.missing)} missing, "
        f"{result.duplicates} duplicates)")
