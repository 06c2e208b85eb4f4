"""Deliberate bugs, one per invariant, for the mutation checks of the chaos suite.

Each :class:`Mutation` breaks one promise of the bus the way a plausible bug would, by patching
the running code of the services it names; nothing here is imported by a service. A run with
``ecombus chaos --mutation NAME`` starts those services through ``python -m
simulators.chaos.mutant NAME run SERVICE`` (:mod:`simulators.chaos.mutant`), which applies the
patch and then runs the service as ``ecombus run`` would. Without ``--mutation`` this module only
lists names: every run of the real code is unaffected.

The check is that the chaos run *fails* with the mutation, on the invariant it names
(``tests/chaos/test_mutations.py``); docs/operations.md lists the outcomes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Mutation:
    """A deliberate bug.

    Attributes:
        name: what ``--mutation`` takes.
        services: the services started with it.
        breaks: the row of the report (the invariant) it must make fail.
        what: the bug, in one sentence.
        apply: patches the running code (called in the service's process before it starts).
    """

    name: str
    services: tuple[str, ...]
    breaks: str
    what: str
    apply: Callable[[], None]


def _edge_acks_before_store() -> None:
    from bus.webhooks.intake import IntakeLog

    write = IntakeLog.write

    async def acks_first(self: IntakeLog, *args: Any, **kwargs: Any) -> str:
        async def later() -> None:
            await asyncio.sleep(1.0)
            await write(self, *args, **kwargs)

        task = asyncio.ensure_future(later())
        _KEEP.add(task)
        task.add_done_callback(_KEEP.discard)
        return uuid.uuid4().hex

    IntakeLog.write = acks_first  # type: ignore[method-assign]


_KEEP: set[asyncio.Future[None]] = set()


def _stage_skips_dedupe() -> None:
    from bus.runtime.dedupe_state import DedupeState

    DedupeState.seen = lambda self, partition, key: False  # type: ignore[method-assign]


def _hold_ignored() -> None:
    from services.inventory_sync.stock import Position

    def sellable(self: Position, location: str) -> int:
        level = self.levels.get(location)
        return max(0, level.available if level else 0)

    Position.sellable = sellable  # type: ignore[method-assign]


def _hold_double_counts() -> None:
    from services.inventory_sync.stock import Position

    def held(self: Position, location: str) -> int:
        return 2 * sum(h.quantity for h in self.holds.values() if h.location == location)

    Position.held = held  # type: ignore[method-assign]


def _crm_forgets_state() -> None:
    import services.crm_updater.wiring as wiring

    wiring.read_to_end = lambda *args, **kwargs: iter(())


def _file_out_forgets_redelivered() -> None:
    from services.router.spool import Spool

    Spool.seen = lambda self, origin, seq=0: False  # type: ignore[method-assign]


def _cxml_new_payload_id() -> None:
    import services.router.endpoints.http_out as http_out

    render = http_out.order_request

    def fresh_payload_id(order: dict[str, Any], *args: Any, **kwargs: Any) -> bytes:
        meta = {**order["meta"], "event_id": uuid.uuid4().hex}
        return render({**order, "meta": meta}, *args, **kwargs)

    http_out.order_request = fresh_payload_id


def _commit_before_ack() -> None:
    from confluent_kafka import TopicPartition

    from bus.runtime.consumer import ConsumerLoop

    run_batch = ConsumerLoop._run_batch

    def commits_first(self: ConsumerLoop, consumer: Any, messages: list[Any]) -> None:
        last: dict[tuple[str, int], int] = {}
        for msg in messages:
            last[(msg.topic, msg.partition)] = msg.offset
        if last:
            consumer.store_offsets(offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()])
        run_batch(self, consumer, messages)

    ConsumerLoop._run_batch = commits_first  # type: ignore[method-assign]


def _tracker_marks_before_push() -> None:
    from services.shipping_tracker.handlers import ShipmentTracker

    track = ShipmentTracker.track

    def marks_first(self: ShipmentTracker, update: Any, ctx: Any) -> None:
        pushed = f"{update.order_id}:{update.tracking_number}"
        if not self.fulfilled.seen(pushed):
            self.fulfilled.mark(pushed)
            self.storefront.push_fulfillment(update.order_id, update.tracking_number, update.tracking_url,
                                             update.carrier)
        track(self, update, ctx)  # finds it marked: only moves the order's status

    ShipmentTracker.track = marks_first  # type: ignore[method-assign]


def _statuses_compared_by_name() -> None:
    import services.shipping_tracker.statuses as statuses

    def by_name(current: Any, status: Any, at_ms: int) -> bool:
        # "OUT_FOR_DELIVERY" > "DELIVERED": a delivery scanned after one never advances the order
        return current is None or str(status.value) > str(current.status.value)

    statuses.advances = by_name


def _restore_parks_superseded() -> None:
    from services.inventory_sync.allocation import StockBook
    from services.inventory_sync.stock import Position

    def restored(self: StockBook, position: Position) -> None:
        self.positions[position.sku] = position
        self.parked.update(position.waiting)  # also what a SKU's older records had waiting

    StockBook.restored = restored  # type: ignore[method-assign]
    StockBook.finish_restore = lambda self: None  # type: ignore[method-assign]


def _sku_map_loses_a_row() -> None:
    from services.inventory_sync.sku_map import SkuMap, UnknownStockItem

    item = SkuMap.item

    def without_yuzu(self: SkuMap, sku: str, location: str) -> Any:
        if sku == "YUZU-SOAP":
            raise UnknownStockItem(f"unknown SKU {sku!r}: no storefront inventory item for it")
        return item(self, sku, location)

    SkuMap.item = without_yuzu  # type: ignore[method-assign]


MUTATIONS: dict[str, Mutation] = {m.name: m for m in (
    Mutation("edge-acks-before-store", ("order-capture",), "intake",
             "the webhook edge answers 200 at once and stores the delivery a second later",
             _edge_acks_before_store),
    Mutation("stage-skips-dedupe", ("order-capture",), "orders.placed.v1",
             "the intake stage never finds a dedupe key it marked", _stage_skips_dedupe),
    Mutation("restore-parks-superseded", ("inventory-sync",), "reservations",
             "inventory-sync's read-back parks the orders a SKU's older changelog records had waiting "
             "(the bug the chaos suite found)", _restore_parks_superseded),
    Mutation("hold-ignored", ("inventory-sync",), "oversold",
             "sellable stock ignores the units held for orders", _hold_ignored),
    Mutation("hold-double-counts", ("inventory-sync",), "stock",
             "every hold counts twice against sellable stock", _hold_double_counts),
    Mutation("crm-forgets-state", ("crm-updater",), "CRM figures",
             "crm-updater starts from an empty book instead of reading its changelog back",
             _crm_forgets_state),
    Mutation("file-out-forgets-redelivered", ("router",), "ERP rows",
             "the ERP file spool no longer recognises an input redelivered after a crash",
             _file_out_forgets_redelivered),
    Mutation("cxml-new-payload-id", ("router",), "cXML orders",
             "each cXML send gets a new payloadID instead of one derived from the event id",
             _cxml_new_payload_id),
    Mutation("commit-before-ack", ("router", "shipping-tracker"), "cXML orders",
             "at-least-once consumers store a batch's offsets before handling it",
             _commit_before_ack),
    Mutation("tracker-marks-before-push", ("shipping-tracker",), "fulfillments",
             "shipping-tracker marks a fulfillment pushed before pushing it", _tracker_marks_before_push),
    Mutation("statuses-compared-by-name", ("shipping-tracker",), "DELIVERED",
             "shipping-tracker orders statuses by their names instead of their ranks",
             _statuses_compared_by_name),
    Mutation("sku-map-loses-a-row", ("inventory-sync",), "dead letters",
             "the SKU map has lost YUZU-SOAP's row", _sku_map_loses_a_row),
)}
"""Every mutation by name."""
