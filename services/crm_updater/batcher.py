"""Contacts from the outbox to the CRM: one entry per customer, batched by size and by time.

The flusher runs beside the consumer loop, with its own consumer group (``<group>.crm``) on the
outbox, read_committed, so it only ever sees changes whose transaction committed.

Guarantee (at-least-once, nothing lost, nothing blocked):

* Records wait in a :class:`ContactBatch`, one entry per customer (a newer record replaces an
  older one: a burst of changes to one customer costs one input). A batch goes out when it holds
  ``batch_size`` customers or its first record has waited ``linger`` seconds.
* Each contact is sent as it stands *now* in the :class:`CustomerBook`, not as the record says,
  so a record replayed from the DLQ long after cannot roll the CRM back.
* The outbox offsets are committed only after every consumed record was written to the CRM or
  dead-lettered (and the dead letter acknowledged); a crash before that resends them, and an
  upsert is idempotent.
* 429, 5xx and timeouts are retried with backoff (Retry-After honoured) within
  ``retry.budget_seconds``; then the batch's contacts are dead-lettered as transient failures,
  so a CRM outage never holds the flusher forever (``ecombus dlq replay crm-updater`` resends).
* A contact the CRM rejects is dead-lettered alone: its outbox record, bytes untouched, with the
  Kafka Connect and ecombus error headers; the rest of its batch is written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from prometheus_client import CollectorRegistry, Counter, Gauge

from bus.errors import BusError, PermanentError, TransientError
from bus.runtime.codec import Codec
from bus.runtime.dlq import STAGE_HANDLER, Failure, dead_letter_headers, dlq_topic
from bus.runtime.handlers import Consumed
from bus.runtime.producer import BusProducer
from bus.runtime.retry import RetryPolicy
from bus.settings import ClientConfig
from services.crm_updater.changelog import contact_upsert
from services.crm_updater.hubspot import HubSpotContacts
from services.crm_updater.profiles import CustomerBook, contact_key

log = logging.getLogger(__name__)
HANDLER = "upsert_contacts"


class ContactBatch:
    """Outbox records waiting to be sent, the newest per customer key."""

    def __init__(self, size: int, linger: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.size, self.linger, self._clock = size, linger, clock
        self._records: dict[str, Consumed] = {}
        self._since: float | None = None
        self.coalesced = 0

    def add(self, record: Consumed) -> None:
        key = (record.key or b"").decode()
        if key in self._records:
            self.coalesced += 1
        elif self._since is None:
            self._since = self._clock()
        self._records[key] = record

    def due(self) -> bool:
        """Full, or its oldest record has waited ``linger`` seconds."""
        if not self._records or self._since is None:
            return False
        return len(self._records) >= self.size or self._clock() - self._since >= self.linger

    def take(self) -> list[Consumed]:
        records, self._records, self._since = list(self._records.values()), {}, None
        return records

    def __len__(self) -> int:
        return len(self._records)


class FlusherMetrics:
    """``ecombus_crm_*`` series on the service's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.contacts = Counter("ecombus_crm_contacts", "Contacts handled by the CRM flusher, by outcome "
                                "(written, rejected, dead_lettered).", ["service", "outcome"],
                                registry=registry)
        self.requests = Counter("ecombus_crm_upsert_requests", "Batch upsert requests sent to the CRM.",
                                ["service"], registry=registry)
        self.coalesced = Counter("ecombus_crm_coalesced_updates", "Outbox records replaced by a newer one "
                                 "of the same contact before sending.", ["service"], registry=registry)
        self.pending = Gauge("ecombus_crm_pending_contacts", "Contacts waiting to be sent to the CRM.",
                             ["service"], registry=registry)


class ContactFlusher:
    """Consume the outbox and keep the CRM up to date (see the module docstring)."""

    def __init__(self, *, service: str, topic: str, group_id: str, client: ClientConfig,
                 contacts: HubSpotContacts, book: CustomerBook, codec: Codec, producer: BusProducer,
                 retry: RetryPolicy, batch_size: int, linger: float,
                 registry: CollectorRegistry | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.service, self.topic, self.group_id, self._client = service, topic, group_id, client
        self.contacts, self.book, self.codec, self.producer = contacts, book, codec, producer
        self.retry, self._sleep = retry, sleep
        self.batch = ContactBatch(batch_size, linger, clock)
        self.metrics = FlusherMetrics(registry or CollectorRegistry())
        self._coalesced_seen = 0

    # -- sending -------------------------------------------------------------------------------

    def flush(self, records: list[Consumed]) -> None:
        """Send ``records`` (one per customer) and dead-letter what the CRM rejects.

        Raises:
            TransientError: a dead letter was not acknowledged (the caller must not commit).
        """
        for start in range(0, len(records), self.batch.size):
            self._send(records[start:start + self.batch.size])
        if self.producer.flush(30.0):
            raise TransientError("dead letters not acknowledged by the broker")

    def _send(self, chunk: list[Consumed]) -> None:
        by_key = {(r.key or b"").decode(): r for r in chunk}
        inputs = [self._input(key, record) for key, record in by_key.items()]
        first = time.time()
        attempts = [0]

        def attempt() -> Any:
            attempts[0] += 1
            return self.contacts.upsert(inputs)

        try:
            result = self.retry.call(attempt, sleep=self._sleep, on_retry=lambda n, exc: log.warning(
                "CRM upsert of %d contacts failed (attempt %d): %s", len(inputs), n, exc))
        except TransientError as exc:
            log.error("CRM unavailable beyond the retry budget; dead-lettering %d contacts", len(chunk))
            for record in chunk:
                self._dead_letter(record, exc, attempts[0], first, "dead_lettered")
            return
        finally:
            self.metrics.requests.labels(self.service).inc(attempts[0])
        self.metrics.contacts.labels(self.service, "written").inc(result.written)
        for email, reason in result.rejected.items():
            rejected = by_key.get(contact_key(email))
            if rejected is not None:
                log.error("the CRM rejected contact %s: %s", email, reason)
                self._dead_letter(rejected, PermanentError(f"the CRM rejected {email}: {reason}"),
                                  attempts[0], first, "rejected")

    def _input(self, key: str, record: Consumed) -> dict[str, Any]:
        with self.book.lock:
            state = self.book.get(key)
            if state is not None:
                return contact_upsert(state)
        value: dict[str, Any] = self.codec.decode(record.topic, record.value or b"")
        return {"id": value["id"], "idProperty": value["idProperty"], "properties": dict(value["properties"])}

    def _dead_letter(self, record: Consumed, error: BusError, attempts: int, first: float,
                     outcome: str) -> None:
        failure = Failure(self.service, HANDLER, STAGE_HANDLER, error, attempts, first, time.time(),
                          class_name=f"{type(self).__module__}.{type(self).__qualname__}")
        headers = dead_letter_headers(record.headers, record.topic, record.partition, record.offset, failure)
        self.producer.produce(dlq_topic(self.service), record.value, key=record.key, headers=headers,
                              timestamp=record.timestamp_ms)
        self.metrics.contacts.labels(self.service, outcome).inc()

    # -- the loop ------------------------------------------------------------------------------

    def run(self, stop: threading.Event, shutdown_timeout: float = 30.0) -> None:
        """Consume, batch and send until ``stop`` is set; then send what waits and commit.

        An unexpected error is logged and sets ``stop``: the whole service stops (and its
        orchestrator restarts it) rather than consuming on without a flusher.
        """
        try:
            self._run(stop, shutdown_timeout)
        except Exception:
            log.exception("CRM flusher failed; stopping the service")
            stop.set()

    def _run(self, stop: threading.Event, shutdown_timeout: float) -> None:
        consumer = Consumer({**self._client, "group.id": self.group_id, "enable.auto.commit": False,
                             "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
        consumer.subscribe([self.topic], on_revoke=lambda c, _p: self._send_and_commit(c, stop))
        log.info("CRM flusher consuming %s as group %s", self.topic, self.group_id)
        committed = time.monotonic()
        try:
            while not stop.is_set():
                for msg in consumer.consume(num_messages=self.batch.size, timeout=0.2):
                    if _usable(msg):
                        self.batch.add(Consumed.of(msg))
                self._observe()
                if self.batch.due() or (not len(self.batch) and time.monotonic() - committed >= 1.0):
                    # An empty batch commits too: positions move past transaction markers.
                    self._send_and_commit(consumer, stop)
                    committed = time.monotonic()
            self._send_and_commit(consumer, stop, deadline=time.monotonic() + shutdown_timeout)
        finally:
            consumer.close()

    def _send_and_commit(self, consumer: Consumer, stop: threading.Event,
                         deadline: float | None = None) -> None:
        records = self.batch.take()
        while records:
            try:
                self.flush(records)
                break
            except (TransientError, KafkaException) as exc:
                log.warning("CRM flush incomplete, trying again: %s", exc)
                if deadline is not None and time.monotonic() > deadline:
                    log.error("giving up at shutdown; %d contacts will be resent on restart", len(records))
                    return
                self._sleep(1.0)
        self._observe()
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("outbox commit failed (records will be resent): %s", exc)

    def _observe(self) -> None:
        self.metrics.pending.labels(self.service).set(len(self.batch))
        if self.batch.coalesced > self._coalesced_seen:
            self.metrics.coalesced.labels(self.service).inc(self.batch.coalesced - self._coalesced_seen)
            self._coalesced_seen = self.batch.coalesced


def _usable(msg: Message) -> bool:
    err = msg.error()
    if err is not None and err.code() != KafkaError._PARTITION_EOF:
        log.warning("outbox consumer: %s", err)
    return err is None

