"""Which events a service already handled, shared by its replicas and surviving restarts.

Handlers with external side effects (an API call, an e-mail) must not act twice on a redelivered
event. :class:`ProcessedEvents` remembers handled ``event_id``s in a compacted Kafka topic
(``bus.processed.<service>.v1``, key = event_id, value = handled-at millis): on start every
replica reads the whole topic, then keeps tailing it, so an event marked by one replica is known
to all within moments, and a restarted replica forgets nothing. Entries older than ``ttl`` are
forgotten locally and expire from the topic by retention.

The guarantee is at-least-once with dedupe: a mark is written after the side effect succeeded,
so a crash between the two can still repeat one effect; two replicas racing on the same event in
the same instant (only possible across a rebalance) can too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bus.runtime.producer import BusProducer
from bus.settings import ClientConfig

DeliveryCallback = Callable[[KafkaError | None, Message], None]


def processed_topic(service: str) -> str:
    return f"bus.processed.{service}.v1"


class ProcessedEvents:
    """A replicated set of handled event ids.

    Args:
        client_config: Kafka client settings.
        service: owner; names the topic.
        producer: used to write marks.
        ttl: seconds an id is remembered (also the topic's retention).
        clock: injectable wall clock (seconds).
    """

    def __init__(self, client_config: ClientConfig, service: str, producer: BusProducer,
                 ttl: float = 7 * 24 * 3600, clock: Callable[[], float] = time.time) -> None:
        self.topic = processed_topic(service)
        self._config = client_config
        self._producer = producer
        self._ttl = ttl
        self._clock = clock
        self._ids: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None

    def start(self, timeout: float = 60.0) -> None:
        """Create the topic if needed and load every id in it (blocks until caught up)."""
        admin = AdminClient(self._config)
        metadata = admin.list_topics(timeout=timeout)
        if self.topic not in metadata.topics:
            new = NewTopic(self.topic, num_partitions=3,
                           replication_factor=min(3, len(metadata.brokers)),
                           config={"cleanup.policy": "compact,delete",
                                   "retention.ms": str(int(self._ttl * 1000))})
            try:
                admin.create_topics([new])[self.topic].result(timeout=timeout)
            except Exception as exc:  # another replica created it first
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
            metadata = admin.list_topics(topic=self.topic, timeout=timeout)
        partitions = list(metadata.topics[self.topic].partitions)
        consumer = Consumer({**self._config, "group.id": f"{self.topic}.reader",
                             "enable.auto.commit": False, "enable.partition.eof": False})
        assignment = [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions]
        ends = {p: _high_watermark(consumer, TopicPartition(self.topic, p), timeout)
                for p in partitions}
        consumer.assign(assignment)
        deadline = time.monotonic() + timeout
        positions = dict.fromkeys(partitions, 0)
        while any(positions[p] < ends[p] for p in partitions) and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                if not msg.error():
                    self._apply(msg)
            # the position, not the last offset read: it moves past transaction markers too
            for tp in consumer.position([TopicPartition(self.topic, p) for p in partitions]):
                positions[tp.partition] = max(positions[tp.partition], tp.offset)
        self._consumer = consumer
        self._thread = threading.Thread(target=self._tail, name=f"{self.topic}-tail", daemon=True)
        self._thread.start()

    def _apply(self, msg: Message) -> None:
        key = msg.key()
        if key is None:
            return
        value = msg.value()
        with self._lock:
            if value is None:
                self._ids.pop(key.decode(), None)
            else:
                self._ids[key.decode()] = int(value) / 1000.0

    def _tail(self) -> None:
        assert self._consumer is not None
        while not self._stop.is_set():
            for msg in self._consumer.consume(num_messages=1000, timeout=0.5):
                if not msg.error():
                    self._apply(msg)

    def seen(self, event_id: str) -> bool:
        """True if the event was handled within the ttl, by this replica or another."""
        with self._lock:
            handled_at = self._ids.get(event_id)
        return handled_at is not None and self._clock() - handled_at < self._ttl

    def mark(self, event_id: str, on_delivery: DeliveryCallback | None = None) -> None:
        """Record the event as handled (locally at once, for everyone once produced)."""
        now = self._clock()
        with self._lock:
            self._ids[event_id] = now
        self._producer.produce(self.topic, str(int(now * 1000)).encode(), key=event_id.encode(),
                               on_delivery=on_delivery)

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._consumer is not None:
            self._consumer.close()


def _high_watermark(consumer: Consumer, tp: TopicPartition, timeout: float) -> int:
    """The partition's end offset, waiting out a just-created topic's leader election."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return int(consumer.get_watermark_offsets(tp, timeout=timeout)[1])
        except KafkaException:  # NOT_LEADER / LEADER_NOT_AVAILABLE until the election settles
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
