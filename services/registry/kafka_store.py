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
import uuid
from collections.abc import Sequence

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from bus.settings import ClientConfig
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
        self._consumer: Consumer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._applied = threading.Condition()
        self._append_lock = threading.Lock()
        self._probe: tuple[float, bool, str] = (0.0, False, "not started")
        self._consumer_error = ""

    def start(self) -> None:
        """Create the topic if needed and read it to its end. Idempotent.

        Raises:
            RegistryError: Kafka unreachable, or the topic not read to its end within the timeout.
        """
        if self._thread is not None:
            return
        self._ensure_topic()
        self._producer = Producer({**self.kafka, "enable.idempotence": True, "acks": "all",
                                   "linger.ms": 0, "delivery.timeout.ms": int(self.timeout * 1000)})
        self._consumer = Consumer({**self.kafka, "group.id": f"ecombus-registry-{uuid.uuid4().hex}",
                                   "enable.auto.commit": False, "enable.partition.eof": True})
        self._consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
        self._thread = threading.Thread(target=self._tail, name=f"registry-tail-{self.topic}", daemon=True)
        self._thread.start()
        if not self._caught_up.wait(self.timeout):
            self.close()
            raise RegistryError(f"could not read the registry topic '{self.topic}' to its end within "
                                f"{self.timeout:.0f}s: {self._consumer_error or 'no answer from Kafka'}")
        log.info("registry caught up with '%s' at offset %d", self.topic, self.state.offset)

    def _ensure_topic(self) -> None:
        admin = AdminClient(self.kafka)
        try:
            metadata = admin.list_topics(timeout=self.timeout)
            existing = metadata.topics.get(self.topic)
            if existing is not None and not existing.error:
                if len(existing.partitions) != 1:
                    log.warning("registry topic '%s' has %d partitions; only partition 0 is used",
                                self.topic, len(existing.partitions))
                return
            replicas = min(3, len(metadata.brokers))
            topic = NewTopic(self.topic, num_partitions=1, replication_factor=replicas,
                             config={"cleanup.policy": "compact"})
            admin.create_topics([topic])[self.topic].result(timeout=self.timeout)
            log.info("created registry topic '%s' (replication factor %d)", self.topic, replicas)
        except KafkaException as exc:
            if exc.args and getattr(exc.args[0], "code", lambda: None)() == KafkaError.TOPIC_ALREADY_EXISTS:
                return  # another replica created it first
            raise RegistryError(f"cannot reach Kafka at {self.kafka.get('bootstrap.servers')} to "
                                f"prepare the registry topic '{self.topic}': {exc}") from exc
        finally:
            del admin  # the traceback would keep it alive, retrying a broker that is not there

    def _tail(self) -> None:
        assert self._consumer is not None
        while not self._stop.is_set():
            try:
                messages = self._consumer.consume(num_messages=500, timeout=0.2)
            except (KafkaException, RuntimeError) as exc:
                self._consumer_error = str(exc)
                if self._stop.is_set():
                    return
                log.warning("registry log consumer: %s", exc)
                time.sleep(0.5)
                continue
            for message in messages:
                self._handle(message)
            if messages:
                with self._applied:
                    self._applied.notify_all()

    def _handle(self, message: Message) -> None:
        error = message.error()
        if error is None:
            offset = message.offset()
            self.state.apply(message.key(), message.value(), -1 if offset is None else offset)
        elif error.code() == KafkaError._PARTITION_EOF:
            self._caught_up.set()
        else:
            self._consumer_error = error.str()
            log.warning("registry log consumer: %s", error.str())

    def append(self, records: Sequence[rec.Record]) -> None:
        if self._producer is None:
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
        with self._applied:
            if not self._applied.wait_for(lambda: self.state.offset >= last, self.timeout):
                raise RegistryError(f"wrote to '{self.topic}' but could not read it back within "
                                    f"{self.timeout:.0f}s")

    def ready(self) -> tuple[bool, str]:
        """Caught up, tail thread alive, and Kafka answered a metadata request (cached 5 s)."""
        if not self._caught_up.is_set() or self._thread is None or not self._thread.is_alive():
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
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        if self._producer is not None:
            self._producer.flush(5)
            self._producer = None
