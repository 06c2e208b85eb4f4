"""Putting what a webhook means on the bus: once, and only answering 2xx after the broker acked.

A webhook handler returns a :class:`Publication`: the records to produce and the platform's
dedupe keys (Shopify ``X-Shopify-Event-Id``, BigCommerce ``hash``, ...). :meth:`Publisher.publish`

1. waits while another request holds any of the same keys (two deliveries of one event racing
   in one process: the second then sees the first's result);
2. answers ``duplicate`` when a dedupe key was already handled (by this replica or another, or
   before a restart: :class:`~bus.runtime.idempotency.ProcessedEvents`);
3. produces the records not yet stored and waits for every acknowledgement within
   ``ack_timeout``;
4. marks the dedupe keys and answers ``published``; on any failure marks the ``event_id`` of each
   record that was stored (so the platform's retry produces only the others, never a double)
   and raises :class:`~bus.errors.Unavailable` (503 at the edge: the platform retries).

The producer should fail undelivered records by the same budget (librdkafka
``message.timeout.ms``, see :func:`webhook_producer_overrides`), so a record refused with a 503
cannot slip onto the topic later and be doubled by the platform's retry.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bus.errors import InvalidInput, SerializationError, TransientError, Unavailable
from bus.runtime.codec import Codec
from bus.runtime.handlers import Headers

if TYPE_CHECKING:
    from bus.observability.metrics import RuntimeMetrics

ACK_GRACE_SECONDS = 0.5
"""Waited beyond ``ack_timeout`` for librdkafka's own timeout report."""


def webhook_producer_overrides(ack_timeout: float) -> dict[str, Any]:
    """librdkafka settings for an HTTP-facing producer: give up on a record within the budget."""
    return {"message.timeout.ms": max(1000, int(ack_timeout * 1000)), "linger.ms": 2}


class Sender(Protocol):
    """What the publisher needs of :class:`~bus.runtime.producer.BusProducer`."""

    async def confirm_async(self, topic: str, value: bytes | None, key: bytes | str | None = None,
                            headers: Headers | None = None, timeout: float = 3.0) -> tuple[int, int]: ...


class Dedupe(Protocol):
    """What the publisher needs of :class:`~bus.runtime.idempotency.ProcessedEvents`."""

    def seen(self, event_id: str) -> bool: ...

    def mark(self, event_id: str) -> None: ...


@dataclass(frozen=True)
class Record:
    """One event to produce: ``value`` is a contract model (or its Avro dict)."""

    topic: str
    key: str
    value: Any
    event_id: str
    headers: Headers = field(default_factory=list)


@dataclass(frozen=True)
class Publication:
    """What one webhook (or one reconciled order) puts on the bus.

    Attributes:
        dedupe_keys: the platform's ids of this event; none seen before, or nothing is produced.
        records: the events, produced in this order.
        note: why nothing is published, for an event the service ignores.
    """

    dedupe_keys: tuple[str, ...]
    records: tuple[Record, ...] = ()
    note: str | None = None

    @classmethod
    def ignored(cls, why: str) -> Publication:
        return cls((), (), why)

    @property
    def event_ids(self) -> list[str]:
        return [r.event_id for r in self.records]


@dataclass(frozen=True)
class Published:
    """The outcome: ``published``, ``duplicate`` or ``ignored``, and the event ids concerned."""

    outcome: str
    event_ids: list[str]
    note: str | None = None


class Publisher:
    """Produces publications exactly once per dedupe key (see the module docstring).

    Args:
        producer: a started BusProducer (its poll thread serves the acknowledgements).
        codec: encodes record values (Avro through the registry).
        processed: the replicated set of handled ids.
        ack_timeout: seconds to wait for the broker's acknowledgements.
        metrics/service: counts acknowledged records in ``ecombus_messages_produced_total``.
    """

    def __init__(self, producer: Sender, codec: Codec, processed: Dedupe, ack_timeout: float = 3.0,
                 metrics: RuntimeMetrics | None = None, service: str = "") -> None:
        self.producer, self.codec, self.processed = producer, codec, processed
        self.ack_timeout = ack_timeout
        self._metrics, self._service = metrics, service
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()

    async def publish(self, publication: Publication) -> Published:
        """Produce the publication once.

        Raises:
            Unavailable: the broker or the registry did not take it (503: the platform retries).
            InvalidInput: an event cannot be encoded for its topic (400).
        """
        if not publication.records:
            return Published("ignored", [], publication.note)
        keys = set(publication.dedupe_keys) | set(publication.event_ids)
        await self._claim(keys)
        try:
            if any(self.processed.seen(k) for k in publication.dedupe_keys):
                return Published("duplicate", publication.event_ids)
            pending = [r for r in publication.records if not self.processed.seen(r.event_id)]
            encoded = [self._encode(r) for r in pending]
            results = await asyncio.gather(*(self._store(r, value) for r, value in zip(pending, encoded,
                                                                                          strict=True)),
                                           return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:  # remember what was stored, so the platform's retry does not double it
                for record, result in zip(pending, results, strict=True):
                    if not isinstance(result, BaseException):
                        self.processed.mark(record.event_id)
                raise Unavailable(f"the broker did not store the event: {failures[0]}") from failures[0]
            for key in publication.dedupe_keys:
                self.processed.mark(key)
            return Published("published", publication.event_ids)
        finally:
            self._release(keys)

    async def dead_letter(self, topic: str, body: bytes, headers: Headers) -> None:
        """Store a delivery that can never be published, with the reason in its headers."""
        try:
            await self.producer.confirm_async(topic, body, None, headers,
                                              timeout=self.ack_timeout + ACK_GRACE_SECONDS)
        except TransientError as exc:
            raise Unavailable(f"the broker did not store the dead letter: {exc}") from exc

    def _encode(self, record: Record) -> bytes:
        try:
            return self.codec.encode(record.topic, record.value)
        except SerializationError as exc:
            raise InvalidInput(f"the event cannot be represented: {exc}") from exc
        except TransientError as exc:
            raise Unavailable(f"the schema registry is unreachable: {exc}") from exc

    async def _store(self, record: Record, value: bytes) -> None:
        await self.producer.confirm_async(record.topic, value, record.key, record.headers,
                                          timeout=self.ack_timeout + ACK_GRACE_SECONDS)
        if self._metrics is not None:
            self._metrics.produced.labels(self._service, record.topic).inc()

    async def _claim(self, keys: Iterable[str]) -> None:
        wanted = set(keys)
        deadline = time.monotonic() + self.ack_timeout
        while True:
            with self._lock:
                if not wanted & self._in_flight:
                    self._in_flight |= wanted
                    return
            if time.monotonic() > deadline:
                raise Unavailable("another delivery of the same event is still being stored")
            await asyncio.sleep(0.005)

    def _release(self, keys: set[str]) -> None:
        with self._lock:
            self._in_flight -= keys
