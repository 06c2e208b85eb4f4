"""What inventory-sync does with each event: keep positions, decide reservations, record both.

* An ERP level (``inventory.levels.v1`` from the router) must name a mapped SKU and location,
  else it is dead-lettered with the reason (:class:`~.sku_map.UnknownStockItem`); a newer count
  replaces the location's level. Levels inventory-sync wrote itself are skipped.
* An order (``orders.placed.v1``) is decided once (:meth:`~.stock.StockBook.reserve`): a
  StockReservation on ``inventory.reservations.v1`` and OrderStatusChanged RESERVED or
  BACKORDERED on ``orders.status.v1``.

After either, each changed SKU's whole position goes to the changelog and each changed
location's net level (sellable = ERP available minus holds) to ``inventory.levels.v1`` with source
``ecombus/inventory-sync``: that record is what the storefront pusher acts on. Everything is
emitted in the loop's exactly-once transaction, even when nothing changed, so that outputs lost
with an aborted transaction are written again when the loop hands the same events back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from bus.contracts import models as m
from bus.runtime.handlers import Context
from services.inventory_sync.changelog import position_record
from services.inventory_sync.settings import InventorySyncSettings
from services.inventory_sync.sku_map import SkuMap
from services.inventory_sync.stock import Decision, StockBook

SERVICE = "inventory-sync"
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
        """Take an ERP count of one SKU at one location."""
        if is_ours(event):
            return
        self.sku_map.item(event.sku, event.location)  # UnknownStockItem: dead-lettered
        with self.book.lock:
            if not self.book.apply_level(event):
                ctx.log.info("count of %s at %s as of %s is older than the one held; ignored",
                             event.sku, event.location, event.as_of.isoformat())
            self._record(event.sku, {event.location}, event.meta, ctx)

    def reserve_stock(self, order: m.OrderPlaced, ctx: Context) -> None:
        """Decide the order's reservation (once) and publish it."""
        now = self._clock()
        arrived = datetime.fromtimestamp(ctx.timestamp_ms / 1000, UTC) if ctx.timestamp_ms else now
        with self.book.lock:
            decision = self.book.reserve(order, arrived, now, (ctx.topic, ctx.partition, ctx.offset))
            if decision is None:
                ctx.log.info("order %s was decided before; nothing to do", order.order_id)
                return
            self._publish(order, decision, ctx)
            for sku, locations in sorted(decision.touched.items()):
                self._record(sku, locations, order.meta, ctx)

    def _publish(self, order: m.OrderPlaced, decision: Decision, ctx: Context) -> None:
        def meta(kind: str) -> m.Meta:
            return m.Meta(event_id=f"{SERVICE}:{kind}:{order.order_id}", occurred_at=decision.decided_at,
                          source=SOURCE, correlation_id=order.meta.correlation_id,
                          causation_id=order.meta.event_id)

        ctx.emit(self.topics.reservations_topic, m.StockReservation(
            meta=meta("reservation"), order_id=order.order_id, result=decision.result, lines=decision.lines),
            key=order.order_id)
        ctx.emit(self.topics.status_topic, m.OrderStatusChanged(
            meta=meta("status"), order_id=order.order_id, status=decision.status, reason=decision.reason),
            key=order.order_id)

    def _record(self, sku: str, locations: set[str], cause: m.Meta, ctx: Context) -> None:
        position = self.book.position(sku)
        ctx.emit(self.topics.changelog_topic, position_record(position), key=sku)
        now = self._clock()
        for location in sorted(locations & position.levels.keys()):
            level = position.levels[location]
            meta = m.Meta(event_id=f"{SERVICE}:{cause.event_id}:{sku}:{location}", occurred_at=now,
                          source=SOURCE, correlation_id=cause.correlation_id, causation_id=cause.event_id)
            ctx.emit(self.topics.levels_topic, m.StockLevelChanged(
                meta=meta, sku=sku, location=location, on_hand=level.on_hand,
                available=position.sellable(location), reserved=level.reserved + position.held(location),
                as_of=now), key=sku)
