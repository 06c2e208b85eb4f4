"""What inventory-sync does with each event: keep positions, decide reservations, record both.

* An ERP level (``inventory.levels.v1`` from the router) must name a mapped SKU and location,
  else it is dead-lettered with the reason (:class:`~.sku_map.UnknownStockItem`); a newer count
  replaces the location's level and may release orders waiting for the SKU's first level.
  Levels inventory-sync wrote itself are skipped.
* An order (``orders.placed.v1``) is decided once (:class:`~.allocation.StockBook`): a
  StockReservation on ``inventory.reservations.v1`` and OrderStatusChanged RESERVED or
  BACKORDERED on ``orders.status.v1``, and its ledger to the ledger changelog.
* After the sale, a cancellation (``orders.cancellations.v1``), a refund (``orders.refunds.v1``)
  or a return (``orders.returns.v1``) gives units back once (rules in :mod:`.aftersale`); its
  order's ledger is recorded with the positions it changed. One for an order inventory-sync has
  not decided (never seen, still waiting for a stock level, or not read yet: a refund consumed
  before its order in a backlog) is dead-lettered at once with that reason
  (:class:`~bus.errors.NotFound`), before anything changes: ``ecombus dlq replay inventory-sync``
  applies it once the order is decided.

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
from dataclasses import replace
from datetime import UTC, datetime

from bus.contracts import models as m
from bus.errors import NotFound
from bus.runtime.handlers import Context
from services.inventory_sync import SERVICE
from services.inventory_sync.aftersale import Movement, OrderLedger
from services.inventory_sync.allocation import Decision, Outcome, StockBook
from services.inventory_sync.changelog import ledger_record, position_record
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

    def release_cancelled(self, event: m.OrderCancelled, ctx: Context) -> None:
        """Release the cancelled order's units still reserved (when ``restock``), once."""
        self._give_back(event.order_id, "cancellation", event.meta, ctx, lambda ledger: ledger.cancel(event))

    def restock_refund(self, event: m.OrderRefunded, ctx: Context) -> None:
        """Release the refund's CANCEL lines and restock its RETURN lines, once per refund id."""
        self._give_back(event.order_id, f"refund {event.refund_id}", event.meta, ctx,
                        lambda ledger: ledger.refund(event))

    def restock_return(self, event: m.ReturnUpdated, ctx: Context) -> None:
        """Restock a received return's units not restocked by a refund already, once per return."""
        self._give_back(event.order_id, f"return {event.return_id}", event.meta, ctx,
                        lambda ledger: ledger.receive(event))

    def _give_back(self, order_id: str, what: str, cause: m.Meta, ctx: Context,
                   rule: Callable[[OrderLedger], list[Movement] | None]) -> None:
        now, source = self._clock(), (ctx.topic, ctx.partition, ctx.offset)
        at = datetime.fromtimestamp(ctx.timestamp_ms / 1000, UTC) if ctx.timestamp_ms else now
        with self.book.lock:
            ledger = self.book.ledgers.get(order_id)
            if ledger is None:
                waiting = " (it waits for a stock level)" if order_id in self.book.parked else ""
                raise NotFound(f"{what} for order {order_id}, which inventory-sync has not decided{waiting}: "
                               "unknown order, or not read yet; replay once it is decided")
            outcome = self.book.replay(source)
            self.book.expire(now, source, outcome)
            moves = rule(ledger)
            if moves is None:
                ctx.log.info("%s of order %s already applied", what, order_id)
            else:
                moves = [replace(move, location=self.sku_map.erp_location(move.location)) for move in moves]
            self.book.give_back(ledger, moves, cause.event_id, at, outcome)
            self._emit(outcome, cause, ctx)

    def _emit(self, outcome: Outcome, cause: m.Meta, ctx: Context) -> None:
        for decision in outcome.decisions.values():
            self._publish(decision, ctx)
        for order_id, ledger in sorted(outcome.ledgers.items()):
            ctx.emit(self.topics.ledger_topic, ledger_record(ledger), key=order_id)
        now = self._clock()
        for sku, locations in sorted(outcome.touched.items()):
            position = self.book.position(sku)
            ctx.emit(self.topics.changelog_topic, position_record(position), key=sku)
            for location in sorted(locations & position.levels.keys()):
                level = position.levels[location]
                meta = m.Meta(event_id=f"{SERVICE}:{cause.event_id}:{sku}:{location}", occurred_at=now,
                              source=SOURCE, correlation_id=cause.correlation_id, causation_id=cause.event_id)
                ctx.emit(self.topics.levels_topic, m.StockLevelChanged(
                    meta=meta, sku=sku, location=location,
                    on_hand=level.on_hand + position.credited(location, on_hand=True),
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
        ledger = self.book.ledgers.get(request.order_id)
        if ledger is not None:
            ctx.emit(self.topics.ledger_topic, ledger_record(ledger), key=request.order_id)


def order_skus(order: m.OrderPlaced) -> set[str]:
    return {line.sku for line in order.lines}
