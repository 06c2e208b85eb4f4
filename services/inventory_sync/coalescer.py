"""Sellable quantities to the storefront: bursts coalesced per SKU and location, the bucket honoured.

The pusher runs beside the consumer loop with its own consumer group (``<group>.storefront``)
on ``inventory.levels.v1``, read_committed, and acts only on the net levels inventory-sync wrote
(each one says "this SKU at this location changed"; the ERP's own records are skipped).

Guarantee (at-least-once, latest value wins, nothing lost, nothing blocked):

* Changed (sku, location) pairs wait in a dirty set, one entry each however many records name
  them. Once the first has waited ``linger`` seconds, every pair is pushed with the quantity the
  :class:`~.stock.StockBook` holds *at that moment*: a burst of a thousand changes costs one call
  per pair, carrying the latest value, and a record replayed from the DLQ sends today's value.
  That value may include a decision whose transaction is still committing: it either commits, or
  (after a crash) the loop decides that input again and the push that follows carries the result,
  so the storefront converges on the committed state.
* A value equal to the last one this process pushed for that item is not sent again.
* Calls wait for room in the client-side :class:`~.storefront.LeakyBucket`; a 429 is retried
  after its ``Retry-After``, 5xx and timeouts with backoff, within ``retry.budget_seconds``;
  then the record is dead-lettered as transient (``ecombus dlq replay`` pushes again).
* Offsets are committed only after every pair consumed was pushed (or dead-lettered with an
  acknowledged dead letter); a crash before that pushes them again, and a set is idempotent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException
from prometheus_client import CollectorRegistry, Counter, Gauge

from bus.contracts import models as m
from bus.errors import BusError, PermanentError, TransientError
from bus.runtime.codec import Codec
from bus.runtime.dlq import STAGE_HANDLER, Failure, dead_letter_headers, dlq_topic
from bus.runtime.handlers import Consumed
from bus.runtime.producer import BusProducer
from bus.runtime.retry import RetryPolicy
from bus.settings import ClientConfig
from services.inventory_sync.allocation import StockBook
from services.inventory_sync.handlers import is_ours
from services.inventory_sync.sku_map import SkuMap, StorefrontItem
from services.inventory_sync.storefront import StorefrontInventory

log = logging.getLogger(__name__)
HANDLER = "push_available"


class PusherMetrics:
    """``ecombus_storefront_inventory_*`` series on the service's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.pushes = Counter("ecombus_storefront_inventory_pushes", "Sellable quantities handled by the "
                              "storefront pusher, by outcome (set, unchanged, dead_lettered).",
                              ["service", "outcome"], registry=registry)
        self.retries = Counter("ecombus_storefront_inventory_retries", "Storefront calls retried (429, 5xx, "
                               "timeouts).", ["service"], registry=registry)
        self.coalesced = Counter("ecombus_storefront_inventory_coalesced_updates", "Changes merged into a "
                                 "pending push of the same SKU and location.", ["service"], registry=registry)
        self.pending = Gauge("ecombus_storefront_inventory_pending", "SKU and location pairs waiting to be "
                             "pushed.", ["service"], registry=registry)


class StockPusher:
    """Consume inventory-sync's net levels and keep the storefront's available quantities right."""

    def __init__(self, *, service: str, topic: str, group_id: str, client: ClientConfig,
                 storefront: StorefrontInventory, book: StockBook, sku_map: SkuMap, codec: Codec,
                 producer: BusProducer, retry: RetryPolicy, linger: float,
                 registry: CollectorRegistry | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.service, self.topic, self.group_id, self._client = service, topic, group_id, client
        self.storefront, self.book, self.sku_map, self.codec = storefront, book, sku_map, codec
        self.producer, self.retry, self.linger = producer, retry, linger
        self._clock, self._sleep = clock, sleep
        self.metrics = PusherMetrics(registry or CollectorRegistry())
        self.dirty: dict[tuple[str, str], Consumed] = {}
        self._since: float | None = None
        self.pushed: dict[StorefrontItem, int] = {}

    def note(self, record: Consumed) -> None:
        """Mark the record's (sku, location) as changed, if inventory-sync wrote it."""
        event = m.StockLevelChanged.from_avro(self.codec.decode(record.topic, record.value or b""))
        if not is_ours(event):
            return
        key = (event.sku, event.location)
        if key in self.dirty:
            self.metrics.coalesced.labels(self.service).inc()
        elif not self.dirty:
            self._since = self._clock()
        self.dirty[key] = record

    def due(self) -> bool:
        return bool(self.dirty) and self._since is not None and self._clock() - self._since >= self.linger

    def push(self) -> None:
        """Push every dirty pair's current sellable quantity; dead-letter what cannot be pushed.

        Raises:
            TransientError: a dead letter was not acknowledged (the caller must not commit).
        """
        for (sku, location), record in sorted(self.dirty.items()):
            self._push_one(sku, location, record)
        if self.producer.flush(30.0):
            raise TransientError("dead letters not acknowledged by the broker")
        self.dirty.clear()
        self._since = None

    def _push_one(self, sku: str, location: str, record: Consumed) -> None:
        first, attempts = time.time(), [0]
        try:
            item = self.sku_map.item(sku, location)
            available = self.book.sellable(sku, location)
            if self.pushed.get(item) == available:
                self.metrics.pushes.labels(self.service, "unchanged").inc()
                return

            def attempt() -> None:
                attempts[0] += 1
                self.storefront.set_available(item.inventory_item_id, item.location_id, available)

            self.retry.call(attempt, sleep=self._sleep, on_retry=self._retried)
        except (TransientError, PermanentError) as exc:
            log.error("cannot push %s at %s to the storefront: %s", sku, location, exc)
            self._dead_letter(record, exc, max(attempts[0], 1), first)
            return
        self.pushed[item] = available
        self.metrics.pushes.labels(self.service, "set").inc()

    def _retried(self, attempt: int, exc: BaseException) -> None:
        self.metrics.retries.labels(self.service).inc()
        log.info("storefront call retried after attempt %d: %s", attempt, exc)

    def _dead_letter(self, record: Consumed, error: BusError, attempts: int, first: float) -> None:
        failure = Failure(self.service, HANDLER, STAGE_HANDLER, error, attempts, first, time.time(),
                          class_name=f"{type(self).__module__}.{type(self).__qualname__}")
        headers = dead_letter_headers(record.headers, record.topic, record.partition, record.offset, failure)
        self.producer.produce(dlq_topic(self.service), record.value, key=record.key, headers=headers,
                              timestamp=record.timestamp_ms)
        self.metrics.pushes.labels(self.service, "dead_lettered").inc()

    # -- the loop ------------------------------------------------------------------------------

    def run(self, stop: threading.Event, shutdown_timeout: float = 30.0) -> None:
        """Consume and push until ``stop`` is set; an unexpected error stops the whole service."""
        try:
            self._run(stop, shutdown_timeout)
        except Exception:
            log.exception("storefront pusher failed; stopping the service")
            stop.set()

    def _run(self, stop: threading.Event, shutdown_timeout: float) -> None:
        consumer = Consumer({**self._client, "group.id": self.group_id, "enable.auto.commit": False,
                             "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
        consumer.subscribe([self.topic], on_revoke=lambda c, _p: self._push_and_commit(c))
        log.info("storefront pusher consuming %s as group %s", self.topic, self.group_id)
        committed = time.monotonic()
        try:
            while not stop.is_set():
                for msg in consumer.consume(num_messages=500, timeout=0.2):
                    err = msg.error()
                    if err is None:
                        self.note(Consumed.of(msg))
                    elif err.code() != KafkaError._PARTITION_EOF:
                        log.warning("levels consumer: %s", err)
                self.metrics.pending.labels(self.service).set(len(self.dirty))
                if self.due() or (not self.dirty and time.monotonic() - committed >= 1.0):
                    self._push_and_commit(consumer)  # an empty set commits past transaction markers
                    committed = time.monotonic()
            self._push_and_commit(consumer, deadline=time.monotonic() + shutdown_timeout)
        finally:
            consumer.close()

    def _push_and_commit(self, consumer: Consumer, deadline: float | None = None) -> None:
        while self.dirty:
            try:
                self.push()
            except (TransientError, KafkaException) as exc:
                log.warning("storefront push incomplete, trying again: %s", exc)
                if deadline is not None and time.monotonic() > deadline:
                    log.error("giving up at shutdown; %d items will be pushed on restart", len(self.dirty))
                    return
                self._sleep(1.0)
        self.metrics.pending.labels(self.service).set(0)
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("levels commit failed (items will be pushed again): %s", exc)
