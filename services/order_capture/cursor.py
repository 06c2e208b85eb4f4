"""Reconciliation cursors kept in Kafka, so every replica and every restart resumes together.

A compacted one-partition topic (``bus.cursors.order-capture.v1`` by default) maps a cursor name
(``shopify:<shop>``) to the ISO 8601 UTC end of the last window reconciled. :meth:`start` reads
it to the end; :meth:`put` writes and waits for the broker's acknowledgement.
"""

from __future__ import annotations

import threading

from bus.runtime.producer import BusProducer
from bus.runtime.table import CompactedTable, into_dict
from bus.settings import ClientConfig
from bus.topics import TopicSpec


class CursorStore:
    """Named cursors in a compacted topic.

    Args:
        client_config: Kafka client settings.
        topic: the compacted topic (created when missing).
        producer: writes cursors (a started BusProducer).
    """

    def __init__(self, client_config: ClientConfig, topic: str, producer: BusProducer) -> None:
        self.topic = topic
        self._producer = producer
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()
        spec = TopicSpec(name=topic, partitions=1, config={"cleanup.policy": "compact"})
        self._table = CompactedTable(client_config, topic, into_dict(self._values, self._lock, bytes.decode),
                                     spec=spec)

    def start(self, timeout: float = 30.0) -> None:
        """Create the topic if needed and load the latest value of every cursor.

        Raises:
            TransientError: the topic was not read to its end within ``timeout`` seconds.
        """
        self._table.load(timeout, tail=False)

    def get(self, name: str) -> str | None:
        with self._lock:
            return self._values.get(name)

    def put(self, name: str, value: str, timeout: float = 10.0) -> None:
        """Store a cursor; returns once the broker acknowledged it (TransientError otherwise)."""
        self._producer.confirm(self.topic, value.encode(), key=name.encode(), timeout=timeout)
        with self._lock:
            self._values[name] = value
