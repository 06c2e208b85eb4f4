"""Contacts from the outbox to the CRM: one entry per customer, batched by size and by time.

The flusher is a :class:`~bus.sinks.topic.TopicSink` beside the consumer loop, with its own
consumer group (``<group>.crm``) on the outbox, read_committed, so it only ever sees changes
whose transaction committed. What it adds is the business rule: what a contact upsert is.

Guarantee (at-least-once, nothing lost, nothing blocked):

* Records wait in the sink's batch, one entry per customer (a newer record replaces an
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
import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from bus.errors import PermanentError, TransientError
from bus.observability.masking import mask_text
from bus.runtime.codec import Codec
from bus.runtime.handlers import Consumed
from bus.runtime.retry import RetryPolicy
from bus.sinks import Feed, SetAside, TopicSink
from services.crm_updater.changelog import contact_upsert
from services.crm_updater.hubspot import HubSpotContacts
from services.crm_updater.profiles import CustomerBook, contact_key

log = logging.getLogger(__name__)
HANDLER = "upsert_contacts"


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


class ContactFlusher(TopicSink[str]):
    """Consume the outbox and keep the CRM up to date (see the module docstring)."""

    def __init__(self, feed: Feed, *, contacts: HubSpotContacts, book: CustomerBook, codec: Codec,
                 retry: RetryPolicy, batch_size: int, linger: float,
                 registry: CollectorRegistry | None = None) -> None:
        self.contacts, self.book, self.codec, self.retry = contacts, book, codec, retry
        self.metrics = FlusherMetrics(registry or CollectorRegistry())
        super().__init__(feed, name="CRM flusher", handler=HANDLER, size=batch_size, linger=linger,
                         pending=self.metrics.pending.labels(feed.service),
                         coalesced=self.metrics.coalesced.labels(feed.service), poll=batch_size)

    def key_of(self, record: Consumed) -> str:
        """The customer key (the outbox record's key)."""
        return (record.key or b"").decode()

    def write(self, batch: Mapping[str, Consumed]) -> list[SetAside[Consumed]]:
        """Upsert the contacts, ``batch_size`` per request; set aside what the CRM rejects or never took."""
        size, records = self.batch.size or len(batch), list(batch.items())
        failed: list[SetAside[Consumed]] = []
        for start in range(0, len(records), size):
            failed += self._send(dict(records[start:start + size]))
        return failed

    def _send(self, chunk: dict[str, Consumed]) -> list[SetAside[Consumed]]:
        inputs = [self._input(key, record) for key, record in chunk.items()]
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
            self.metrics.contacts.labels(self.service, "dead_lettered").inc(len(chunk))
            return [SetAside(record, exc, attempts[0], first) for record in chunk.values()]
        finally:
            self.metrics.requests.labels(self.service).inc(attempts[0])
        self.metrics.contacts.labels(self.service, "written").inc(result.written)
        rejected: list[SetAside[Consumed]] = []
        for email, reason in result.rejected.items():
            record = chunk.get(contact_key(email))
            if record is not None:
                # The record (keyed by the e-mail) says whose contact; the message never does, and the
                # CRM's reason, which may quote the contact's values, is masked (bus.observability).
                why = mask_text(reason)
                where = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
                log.error("the CRM rejected a contact: %s", why, extra=where)
                error = PermanentError(f"the CRM rejected the contact: {why}")
                rejected.append(SetAside(record, error, attempts[0], first))
                self.metrics.contacts.labels(self.service, "rejected").inc()
        return rejected

    def _input(self, key: str, record: Consumed) -> dict[str, Any]:
        with self.book.lock:
            state = self.book.get(key)
            if state is not None:
                return contact_upsert(state)
        value: dict[str, Any] = self.codec.decode(record.topic, record.value or b"")
        return {"id": value["id"], "idProperty": value["idProperty"], "properties": dict(value["properties"])}
