"""The registry's store on a compacted, one-partition Kafka topic (``_schemas`` by default).

:meth:`KafkaStore.start` creates the topic if it is missing (1 partition,
``cleanup.policy=compact``, replication factor min(3, brokers)), then reads it from the beginning
to its end before returning; a background thread keeps tailing it, so every replica sees what the
others write. :meth:`KafkaStore.append` writes with an idempotent ``acks=all`` producer and returns
only once the records are acknowledged *and* read back and applied, so the caller's next query
sees the conflict rule's verdict (see :mod:`services.registry.records`).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import uuid
from collections.abc import Sequence

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from bus.errors import TransientError
from bus.runtime.table import CompactedTable
from bus.settings import ClientConfig
from bus.topics import TopicSpec, ensure_topics
from services.registry import records as rec
from services.registry.errors import RegistryError
from services.registry.store import SchemaStore

log = logging.getLogger(__name__)
PROBE_INTERVAL_S = 5.0


class KafkaStore(SchemaStore):
    """A :class:`SchemaStore` whose log is a Kafka topic.

    Args:
        kafka: librdkafka settings common to all clients (``KafkaSettings.client_config()``).
        topic: the log topic.
        timeout: seconds a start-up, a write or a read-back may take before a store error.
    """

    def __init__(self, kafka: ClientConfig, topic: str = "_schemas", *, timeout: float = 30.0) -> None:
        super().__init__()
        self.kafka, self.topic, self.timeout = dict(kafka), topic, timeout
        self._producer: Producer | None = None
        self._table: CompactedTable | None = None
        self._append_lock = threading.Lock()
        self._probe: tuple[float, bool, str] = (0.0, False, "not started")

    def start(self) -> None:
        """Create the topic if needed and read it to its end. Idempotent.

        Raises:
            RegistryError: Kafka unreachable, or the topic not read to its end within the timeout.
        """
        if self._table is not None:
            return
        spec = self._ensure_topic()
        self._producer = Producer({**self.kafka, "enable.idempotence": True, "acks": "all",
                                   "linger.ms": 0, "delivery.timeout.ms": int(self.timeout * 1000)})
        # with the spec the table waits for a just-created topic to reach the metadata of the
        # broker it asks (on a cluster, that broker may learn of the topic a moment later)
        table = CompactedTable(self.kafka, self.topic, self._apply, spec=spec, partitions=[0],
                               group_id=f"ecombus-registry-{uuid.uuid4().hex}")
        try:
            table.load(self.timeout)
        except (TransientError, KafkaException) as exc:
            self.close()
            raise RegistryError(f"could not read the registry topic '{self.topic}' to its end within "
                                f"{self.timeout:.0f}s: {exc}") from exc
        self._table = table
        if len(table.topic_partitions) != 1:
            log.warning("registry topic '%s' has %d partitions; only partition 0 is used",
                        self.topic, len(table.topic_partitions))
        log.info("registry caught up with '%s' at offset %d", self.topic, self.state.offset)

    def _ensure_topic(self) -> TopicSpec:
        spec = TopicSpec(name=self.topic, partitions=1, config={"cleanup.policy": "compact"})
        try:
            ensure_topics(self.kafka, [spec], timeout=self.timeout)
            return spec
        except KafkaException as exc:
            traceback.clear_frames(exc.__traceback__)  # its frames hold the admin client, which retries
            raise RegistryError(f"cannot reach Kafka at {self.kafka.get('bootstrap.servers')} to "
                                f"prepare the registry topic '{self.topic}': {exc}") from exc

    def _apply(self, key: bytes | None, value: bytes | None, message: Message) -> None:
        offset = message.offset()
        self.state.apply(key, value, -1 if offset is None else offset)

    def append(self, records: Sequence[rec.Record]) -> None:
        if self._producer is None or self._table is None:
            raise RegistryError("the registry store is not started")
        outcomes: list[tuple[KafkaError | None, int]] = []

        def delivered(err: KafkaError | None, msg: Message) -> None:
            offset = msg.offset()
            outcomes.append((err, -1 if offset is None else offset))

        try:
            with self._append_lock:  # flush serves delivery callbacks: one writer at a time
                for record in records:
                    self._producer.produce(self.topic, key=record.key_bytes(), value=record.value_bytes(),
                                           partition=0, on_delivery=delivered)
                self._producer.flush(self.timeout)
        except (KafkaException, BufferError) as exc:
            raise RegistryError(f"Error while writing to the registry log '{self.topic}': {exc}") from exc
        failed = [str(err) for err, _ in outcomes if err is not None]
        if failed or len(outcomes) < len(records):
            raise RegistryError(f"Error while writing to the registry log '{self.topic}': "
                                f"{'; '.join(failed) or 'not acknowledged in time'}")
        last = max(offset for _, offset in outcomes)
        if not self._table.wait_applied(0, last, self.timeout):
            raise RegistryError(f"wrote to '{self.topic}' but could not read it back within "
                                f"{self.timeout:.0f}s")

    def ready(self) -> tuple[bool, str]:
        """Caught up, tail thread alive, and Kafka answered a metadata request (cached 5 s)."""
        if self._table is None or not self._table.tailing:
            return False, f"still reading the registry topic '{self.topic}'"
        checked_at, ok, why = self._probe
        if time.monotonic() - checked_at > PROBE_INTERVAL_S and self._producer is not None:
            try:
                self._producer.list_topics(self.topic, timeout=2.0)
                ok, why = True, ""
            except KafkaException as exc:
                ok, why = False, f"Kafka unreachable: {exc}"
            self._probe = (time.monotonic(), ok, why)
        return ok, why

    def close(self) -> None:
        """Stop tailing, flush and close the clients. Idempotent."""
        if self._table is not None:
            self._table.close()
            self._table = None
        if self._producer is not None:
            self._producer.flush(5)
            self._producer = None
