"""Sellable quantities to the storefront: bursts coalesced per SKU and location, the bucket honoured.

The pusher is a :class:`~bus.sinks.topic.TopicSink` beside the consumer loop with its own
consumer group (``<group>.storefront``) on ``inventory.levels.v1``, read_committed, and acts only
on the net levels inventory-sync wrote (each one says "this SKU at this location changed"; the
ERP's own records are skipped). What it adds is the business rule: what a storefront stock push is.

Guarantee (at-least-once, latest value wins, nothing lost, nothing blocked):

* Changed (sku, location) pairs wait in the sink's batch, one entry each however many records
  name them. Once the first has waited ``linger`` seconds, every pair is pushed with the quantity
  the :class:`~.stock.StockBook` holds *at that moment*: a burst of a thousand changes costs one
  call per pair, carrying the latest value, and a record replayed from the DLQ sends today's value.
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
import time
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge

from bus.contracts import models as m
from bus.errors import PermanentError, TransientError
from bus.runtime.codec import Codec
from bus.runtime.handlers import Consumed
from bus.runtime.retry import RetryPolicy
from bus.sinks import Feed, SetAside, TopicSink
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


class StockPusher(TopicSink[tuple[str, str]]):
    """Consume inventory-sync's net levels and keep the storefront's available quantities right."""

    def __init__(self, feed: Feed, *, storefront: StorefrontInventory, book: StockBook, sku_map: SkuMap,
                 codec: Codec, retry: RetryPolicy, linger: float,
                 registry: CollectorRegistry | None = None) -> None:
        self.storefront, self.book, self.sku_map, self.codec = storefront, book, sku_map, codec
        self.retry, self.linger = retry, linger
        self.metrics = PusherMetrics(registry or CollectorRegistry())
        self.pushed: dict[StorefrontItem, int] = {}
        super().__init__(feed, name="storefront pusher", handler=HANDLER, size=None, linger=linger,
                         pending=self.metrics.pending.labels(feed.service),
                         coalesced=self.metrics.coalesced.labels(feed.service))

    def key_of(self, record: Consumed) -> tuple[str, str] | None:
        """The record's (sku, location) if inventory-sync wrote it; None for the ERP's own records."""
        event = m.StockLevelChanged.from_avro(self.codec.decode(record.topic, record.value or b""))
        return (event.sku, event.location) if is_ours(event) else None

    def write(self, batch: Mapping[tuple[str, str], Consumed]) -> list[SetAside[Consumed]]:
        """Push every pair's current sellable quantity, in key order; what cannot be pushed is set aside."""
        failed = (self._push_one(sku, location, record) for (sku, location), record in sorted(batch.items()))
        return [failure for failure in failed if failure is not None]

    def _push_one(self, sku: str, location: str, record: Consumed) -> SetAside[Consumed] | None:
        first, attempts = time.time(), [0]
        try:
            item = self.sku_map.item(sku, location)
            available = self.book.sellable(sku, location)
            if self.pushed.get(item) == available:
                self.metrics.pushes.labels(self.service, "unchanged").inc()
                return None

            def attempt() -> None:
                attempts[0] += 1
                self.storefront.set_available(item.inventory_item_id, item.location_id, available)

            self.retry.call(attempt, sleep=self._sleep, on_retry=self._retried)
        except (TransientError, PermanentError) as exc:
            log.error("cannot push %s at %s to the storefront: %s", sku, location, exc)
            self.metrics.pushes.labels(self.service, "dead_lettered").inc()
            return SetAside(record, exc, max(attempts[0], 1), first)
        self.pushed[item] = available
        self.metrics.pushes.labels(self.service, "set").inc()
        return None

    def _retried(self, attempt: int, exc: BaseException) -> None:
        self.metrics.retries.labels(self.service).inc()
        log.info("storefront call retried after attempt %d: %s", attempt, exc)
