"""inventory-sync after the sale: holds released, units restocked, each unit once, restored intact."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from bus.contracts import models as m
from bus.contracts.examples import examples, meta, money
from bus.errors import NotFound
from bus.runtime.handlers import Context
from services.inventory_sync.allocation import StockBook
from services.inventory_sync.changelog import (
    ledger_from_record,
    ledger_record,
    position_from_record,
    position_record,
)
from services.inventory_sync.handlers import StockKeeper
from services.inventory_sync.settings import InventorySyncSettings
from services.inventory_sync.sku_map import SkuMap
from tests.unit.inventory_sync.stock_events import later, level, order

SETTINGS = InventorySyncSettings()
SKU_MAP = SkuMap({"MATCHA-40G": 808950810, "SENCHA-80G": 808950811},
                 {"TOKYO-1": 655441491, "LA-1": 655441492})
SKU, TOKYO = "MATCHA-40G", "TOKYO-1"
SETTLE = timedelta(minutes=15)
_OFFSETS = itertools.count()
R = m.RestockType


def _ctx(topic: str = "orders.refunds.v1", at: datetime | None = None) -> Context:
    return Context(topic=topic, partition=0, offset=next(_OFFSETS), key=None, headers=[],
                   timestamp_ms=int((at or later(1)).timestamp() * 1000))


def _keeper(available: int = 10, quantity: int = 3) -> StockKeeper:
    """Order 1 holds ``quantity`` of ``available`` MATCHA-40G at TOKYO-1 (line ``1-0``)."""
    keeper = StockKeeper(StockBook(SETTLE, timedelta(minutes=5)), SKU_MAP, SETTINGS, clock=lambda: later(2))
    keeper.apply_level(level(SKU, TOKYO, available), _ctx("inventory.levels.v1"))
    keeper.reserve_stock(order(1, (SKU, quantity)), _ctx("orders.placed.v1"))
    return keeper


def _refund(refund_id: str, *lines: tuple[int, m.RestockType], number: int = 1) -> m.OrderRefunded:
    refund = examples()["OrderRefunded"]
    assert isinstance(refund, m.OrderRefunded)
    return replace(refund, meta=meta(f"shopify:refund:{refund_id}"), order_id=order(number).order_id,
                   refund_id=refund_id, lines=[
                       m.RefundLine(line_id=f"{number}-0", sku=SKU, quantity=qty, amount=money("17.80"),
                                    restock=kind != R.NO_RESTOCK, restock_type=kind, location=None)
                       for qty, kind in lines])


def _return(return_id: str, quantity: int,
            status: m.ReturnStatus = m.ReturnStatus.RECEIVED) -> m.ReturnUpdated:
    returned = examples()["ReturnUpdated"]
    assert isinstance(returned, m.ReturnUpdated)
    return replace(returned, meta=meta(f"shopify:return:{return_id}:{status.value}"),
                   order_id=order(1).order_id, return_id=return_id, status=status, location=None,
                   lines=[m.ReturnLine(line_id="1-0", sku=SKU, quantity=quantity)])


def _cancel(restock: bool = True) -> m.OrderCancelled:
    cancelled = examples()["OrderCancelled"]
    assert isinstance(cancelled, m.OrderCancelled)
    return replace(cancelled, order_id=order(1).order_id, restock=restock)


def _net(ctx: Context) -> m.StockLevelChanged:
    (net,) = [o.value for o in ctx.outputs if o.topic == SETTINGS.levels_topic]
    assert isinstance(net, m.StockLevelChanged)
    return net


def _sellable(keeper: StockKeeper) -> int:
    return keeper.book.sellable(SKU, TOKYO)


def test_a_cancellation_releases_the_holds_and_records_position_ledger_and_net_level() -> None:
    keeper = _keeper()
    assert _sellable(keeper) == 7
    keeper.release_cancelled(_cancel(), ctx := _ctx("orders.cancellations.v1"))
    assert _sellable(keeper) == 10
    assert {o.topic for o in ctx.outputs} == {SETTINGS.changelog_topic, SETTINGS.ledger_topic,
                                               SETTINGS.levels_topic}
    assert (_net(ctx).available, _net(ctx).on_hand, _net(ctx).reserved) == (10, 10, 0)


def test_a_cancellation_without_restock_keeps_the_units_aside() -> None:
    keeper = _keeper()
    keeper.release_cancelled(_cancel(restock=False), _ctx("orders.cancellations.v1"))
    assert _sellable(keeper) == 7


@pytest.mark.parametrize("refund_first", [False, True])
def test_a_cancellation_and_its_cancel_refund_release_the_units_once(refund_first: bool) -> None:
    keeper = _keeper()
    steps = [lambda: keeper.release_cancelled(_cancel(), _ctx("orders.cancellations.v1")),
             lambda: keeper.restock_refund(_refund("r-1", (3, R.CANCEL)), _ctx())]
    for step in steps[::-1] if refund_first else steps:
        step()
    assert _sellable(keeper) == 10


def test_a_cancel_refund_of_one_unit_releases_one() -> None:
    keeper = _keeper()
    keeper.restock_refund(_refund("r-1", (1, R.CANCEL)), ctx := _ctx())
    assert _sellable(keeper) == 8 and _net(ctx).on_hand == 10, "released, not on hand"


def test_a_partial_return_refund_restocks_exactly_that_many_on_hand() -> None:
    keeper = _keeper()
    keeper.restock_refund(_refund("r-1", (1, R.RETURN), (1, R.NO_RESTOCK)), ctx := _ctx())
    assert _sellable(keeper) == 8
    assert (_net(ctx).available, _net(ctx).on_hand) == (8, 11)


def test_the_same_refund_again_restocks_nothing_but_records_the_position_again() -> None:
    keeper = _keeper()
    keeper.restock_refund(_refund("r-1", (1, R.RETURN)), _ctx())
    keeper.restock_refund(_refund("r-1", (1, R.RETURN)), again := _ctx())
    assert _sellable(keeper) == 8, "restocked once"
    assert {o.topic for o in again.outputs} >= {SETTINGS.changelog_topic, SETTINGS.ledger_topic}, \
        "recorded again, so Kafka catches up with memory after an aborted transaction"
    assert _net(again).available == 8


@pytest.mark.parametrize(("refunded", "received", "restocked"), [
    (1, 1, 1),  # one return, received and refunded: once
    (1, 2, 2),  # refunded in part, received in full
    (2, 1, 2),
    (5, 0, 3),  # never more than the line shipped
])
def test_a_return_received_and_refunded_restocks_each_unit_once_in_either_order(
        refunded: int, received: int, restocked: int) -> None:
    for refund_first in (True, False):
        keeper = _keeper()
        refund, returned = _refund("r-1", (refunded, R.RETURN)), _return("ret-1", received)
        if refund_first:
            keeper.restock_refund(refund, _ctx())
        keeper.restock_return(returned, _ctx("orders.returns.v1"))
        if not refund_first:
            keeper.restock_refund(refund, _ctx())
        assert _sellable(keeper) == 7 + restocked, (refund_first, refunded, received)


def test_a_return_only_restocks_once_received_and_once_per_return() -> None:
    keeper = _keeper()
    keeper.restock_return(_return("ret-1", 1, m.ReturnStatus.OPEN), _ctx("orders.returns.v1"))
    assert _sellable(keeper) == 7
    for _ in range(2):
        keeper.restock_return(_return("ret-1", 1), _ctx("orders.returns.v1"))
    assert _sellable(keeper) == 8


def test_a_release_after_the_erp_absorbed_the_hold_is_credited_until_the_erp_counts_it() -> None:
    keeper = _keeper()
    absorbed = later(1) + SETTLE
    keeper.apply_level(level(SKU, TOKYO, 7, as_of=absorbed), _ctx("inventory.levels.v1"))
    assert keeper.book.positions[SKU].holds == {} and _sellable(keeper) == 7
    keeper.release_cancelled(_cancel(), _ctx("orders.cancellations.v1", at=later(30)))
    assert _sellable(keeper) == 10
    keeper.apply_level(level(SKU, TOKYO, 10, as_of=later(30) + SETTLE), _ctx("inventory.levels.v1"))
    assert _sellable(keeper) == 10, "the ERP's count includes the units now: the credit is dropped"


def test_an_event_for_an_order_never_decided_is_not_found_and_changes_nothing() -> None:
    keeper = _keeper()
    stranger = replace(_refund("r-9", (1, R.RETURN)), order_id="shopify:nowhere:1")
    with pytest.raises(NotFound, match="refund r-9 for order shopify:nowhere:1, which inventory-sync has "
                                       "not decided"):
        keeper.restock_refund(stranger, _ctx())
    with pytest.raises(NotFound, match="cancellation for order"):
        keeper.release_cancelled(replace(_cancel(), order_id="shopify:nowhere:1"), _ctx())
    assert _sellable(keeper) == 7


def test_an_event_for_an_order_waiting_for_a_level_says_so() -> None:
    keeper = _keeper()
    keeper.reserve_stock(order(2, ("SENCHA-80G", 1)), _ctx("orders.placed.v1"))
    with pytest.raises(NotFound, match="it waits for a stock level"):
        keeper.restock_refund(_refund("r-2", (1, R.RETURN), number=2), _ctx())


def test_ledger_and_credits_survive_the_changelog_and_still_dedupe() -> None:
    keeper = _keeper()
    keeper.restock_refund(_refund("r-1", (1, R.RETURN)), _ctx())
    book = keeper.book
    restored = StockBook(SETTLE, timedelta(minutes=5))
    for position in book.positions.values():
        restored.restored(position_from_record(position_record(position)))
    for ledger in book.ledgers.values():
        restored.ledgers[ledger.order_id] = ledger_from_record(ledger_record(ledger))
    again = StockKeeper(restored, SKU_MAP, SETTINGS, clock=lambda: later(2))
    assert _sellable(again) == 8
    again.restock_refund(_refund("r-1", (1, R.RETURN)), _ctx())
    again.restock_return(_return("ret-1", 1), _ctx("orders.returns.v1"))
    assert _sellable(again) == 8, "the refund's id and the line's count came back with the ledger"


def test_old_changelog_records_without_credits_read_as_none() -> None:
    record: dict[str, Any] = position_record(_keeper().book.positions[SKU])
    del record["credits"]
    assert position_from_record(record).credits == {}


@pytest.mark.parametrize(("named", "where"), [("655441492", "LA-1"), ("LA-1", "LA-1"), ("999", TOKYO)])
def test_restocked_units_come_back_where_the_event_says_else_where_the_line_was_held(
        named: str, where: str) -> None:
    keeper = _keeper()
    keeper.apply_level(level(SKU, "LA-1", 4), _ctx("inventory.levels.v1"))
    refund = _refund("r-1", (1, R.RETURN))
    refund = replace(refund, lines=[replace(refund.lines[0], location=named)])
    keeper.restock_refund(refund, _ctx())
    back = {"LA-1": 4, TOKYO: 7}
    back[where] += 1
    assert {loc: keeper.book.sellable(SKU, loc) for loc in back} == back
