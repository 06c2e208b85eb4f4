"""Reconciliation cursors kept in Kafka, so every replica and every restart resumes together.

A compacted one-partition topic (``bus.cursors.order-capture.v1`` by default) maps a cursor name
(``shopify:<shop>``) to the ISO 8601 UTC end of the last window reconciled. :meth:`start` reads
it to the end; :meth:`put` writes and waits for the broker's acknowledgement.
"""

from __future__ import annotations

import threading

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from bus import topics as topics_lib
from bus.runtime.producer import BusProducer
from bus.settings import ClientConfig
from bus.tools.ops.reading import read_to_end


class CursorStore:
    """Named cursors in a compacted topic.

    Args:
        client_config: Kafka client settings.
        topic: the compacted topic (created when missing).
        producer: writes cursors (a started BusProducer).
    """

    def __init__(self, client_config: ClientConfig, topic: str, producer: BusProducer) -> None:
        self.topic = topic
        self._config = client_config
        self._producer = producer
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()

    def start(self, timeout: float = 30.0) -> None:
        """Create the topic if needed and load the latest value of every cursor."""
        spec = topics_lib.TopicSpec(name=self.topic, partitions=1,
                                    config={"cleanup.policy": "compact"})
        topics_lib.apply(AdminClient(self._config), [spec], timeout=timeout)
        consumer = Consumer({**self._config, "group.id": f"{self.topic}.reader",
                             "enable.auto.commit": False})
        try:
            for msg in read_to_end(consumer, [TopicPartition(self.topic, 0, OFFSET_BEGINNING)], timeout):
                key = msg.key()
                if key is not None:
                    self._apply(key, msg.value())
        finally:
            consumer.close()

    def _apply(self, key: bytes, value: bytes | None) -> None:
        with self._lock:
            if value is None:
                self._values.pop(key.decode(), None)
            else:
                self._values[key.decode()] = value.decode()

    def get(self, name: str) -> str | None:
        with self._lock:
            return self._values.get(name)

    def put(self, name: str, value: str, timeout: float = 10.0) -> None:
        """Store a cursor; returns once the broker acknowledged it (TransientError otherwise)."""
        self._producer.confirm(self.topic, value.encode(), key=name.encode(), timeout=timeout)
        with self._lock:
            self._values[name] = value
