"""What inventory-sync does with each event: keep positions, decide reservations, record both.

* An ERP level (``inventory.levels.v1`` from the router) must name a mapped SKU and location,
  else it is dead-lettered with the reason (:class:`~.sku_map.UnknownStockItem`); a newer count
  replaces the location's level and may release orders waiting for the SKU's first level.
  Levels inventory-sync wrote itself are skipped.
* An order (``orders.placed.v1``) is decided once (:class:`~.allocation.StockBook`): a
  StockReservation on ``inventory.reservations.v1`` and OrderStatusChanged RESERVED or
  BACKORDERED on ``orders.status.v1``.

Every record handled, our own net levels included, also decides the orders that waited too long
for a level (so in a bus that falls silent they wait until the next record). After it, each
changed SKU's whole position goes to the changelog and each changed location's net level
(sellable = ERP available minus holds) to ``inventory.levels.v1`` with source
``ecombus/inventory-sync``: that record is what the storefront pusher acts on. Everything is
emitted in the loop's exactly-once transaction, even when nothing changed, so that outputs lost
with an aborted transaction are written again when the loop hands the same record back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from bus.contracts import models as m
from bus.runtime.handlers import Context
from services.inventory_sync import SERVICE
from services.inventory_sync.allocation import Decision, Outcome, StockBook
from services.inventory_sync.changelog import position_record
from services.inventory_sync.settings import InventorySyncSettings
from services.inventory_sync.sku_map import SkuMap
from services.inventory_sync.stock import OrderRequest

SOURCE = m.Source(platform="ecombus", system=SERVICE)


def is_ours(event: m.StockLevelChanged) -> bool:
    """Whether inventory-sync wrote this level (the net sellable quantity)."""
    return event.meta.source == SOURCE


def _now() -> datetime:
    return datetime.now(UTC)


class StockKeeper:
    """The handlers, bound to the book, the SKU map and the configured topics."""

    def __init__(self, book: StockBook, sku_map: SkuMap, settings: InventorySyncSettings,
                 clock: Callable[[], datetime] = _now) -> None:
        self.book, self.sku_map, self.topics, self._clock = book, sku_map, settings, clock

    def apply_level(self, event: m.StockLevelChanged, ctx: Context) -> None:
        """Take an ERP count of one SKU at one location (our own net levels only tick the clock)."""
        ours = is_ours(event)
        if not ours:
            self.sku_map.item(event.sku, event.location)  # UnknownStockItem: dead-lettered
        now, source = self._clock(), (ctx.topic, ctx.partition, ctx.offset)
        with self.book.lock:
            outcome = self.book.replay(source)
            if not ours and not self.book.apply_level(event, now, source, outcome):
                ctx.log.info("count of %s at %s as of %s is older than the one held; ignored",
                             event.sku, event.location, event.as_of.isoformat())
            self.book.expire(now, source, outcome)  # after the level: it may have released them
            self._emit(outcome, event.meta, ctx)

    def reserve_stock(self, order: m.OrderPlaced, ctx: Context) -> None:
        """Decide the order's reservation (once), or let it wait for its SKUs' first levels."""
        now, source = self._clock(), (ctx.topic, ctx.partition, ctx.offset)
        arrived = datetime.fromtimestamp(ctx.timestamp_ms / 1000, UTC) if ctx.timestamp_ms else now
        with self.book.lock:
            outcome = self.book.replay(source)
            self.book.expire(now, source, outcome)
            self.book.reserve(OrderRequest.of(order, arrived), now, source, outcome)
            if order.order_id in self.book.parked:
                ctx.log.info("order %s waits for the first stock level of %s", order.order_id,
                             ", ".join(s for s in sorted(order_skus(order)) if not self.book.known(s)))
            self._emit(outcome, order.meta, ctx)

    def _emit(self, outcome: Outcome, cause: m.Meta, ctx: Context) -> None:
        for decision in outcome.decisions.values():
            self._publish(decision, ctx)
        now = self._clock()
        for sku, locations in sorted(outcome.touched.items()):
            position = self.book.position(sku)
            ctx.emit(self.topics.changelog_topic, position_record(position), key=sku)
            for location in sorted(locations & position.levels.keys()):
                level = position.levels[location]
                meta = m.Meta(event_id=f"{SERVICE}:{cause.event_id}:{sku}:{location}", occurred_at=now,
                              source=SOURCE, correlation_id=cause.correlation_id, causation_id=cause.event_id)
                ctx.emit(self.topics.levels_topic, m.StockLevelChanged(
                    meta=meta, sku=sku, location=location, on_hand=level.on_hand,
                    available=position.sellable(location), reserved=level.reserved + position.held(location),
                    as_of=now), key=sku)

    def _publish(self, decision: Decision, ctx: Context) -> None:
        request = decision.request

        def meta(kind: str) -> m.Meta:
            return m.Meta(event_id=f"{SERVICE}:{kind}:{request.order_id}", occurred_at=decision.decided_at,
                          source=SOURCE, correlation_id=request.correlation_id, causation_id=request.event_id)

        ctx.emit(self.topics.reservations_topic, m.StockReservation(
            meta=meta("reservation"), order_id=request.order_id, result=decision.result,
            lines=decision.lines), key=request.order_id)
        ctx.emit(self.topics.status_topic, m.OrderStatusChanged(
            meta=meta("status"), order_id=request.order_id, status=decision.status, reason=decision.reason),
            key=request.order_id)


def order_skus(order: m.OrderPlaced) -> set[str]:
    return {line.sku for line in order.lines}
