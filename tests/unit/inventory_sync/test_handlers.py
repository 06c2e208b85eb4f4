"""inventory-sync's handlers: what each event emits, and what is refused."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta

import pytest

from bus.contracts import models as m
from bus.errors import PermanentError
from bus.runtime.handlers import Context
from services.inventory_sync.allocation import StockBook
from services.inventory_sync.handlers import SOURCE, StockKeeper
from services.inventory_sync.settings import InventorySyncSettings
from services.inventory_sync.sku_map import SkuMap
from tests.unit.inventory_sync.stock_events import T0, later, level, order

SETTINGS = InventorySyncSettings()
SKU_MAP = SkuMap({"MATCHA-40G": 808950810}, {"TOKYO-1": 655441491, "LA-1": 655441492})


def _keeper() -> StockKeeper:
    return StockKeeper(StockBook(timedelta(minutes=15), timedelta(minutes=5)), SKU_MAP, SETTINGS,
                       clock=lambda: later(2))


_OFFSETS = itertools.count()


def _ctx(topic: str = "orders.placed.v1") -> Context:
    """A fresh record's context (every call a new offset)."""
    return Context(topic=topic, partition=0, offset=next(_OFFSETS), key=None, headers=[],
                   timestamp_ms=int(later(1).timestamp() * 1000))


def _by_topic(ctx: Context) -> dict[str, list[object]]:
    out: dict[str, list[object]] = {}
    for o in ctx.outputs:
        out.setdefault(o.topic, []).append(o.value)
    return out


def test_erp_level_records_the_position_and_the_net_level() -> None:
    keeper = _keeper()
    keeper.apply_level(level("MATCHA-40G", "TOKYO-1", 5, reserved=1), ctx := _ctx("inventory.levels.v1"))
    out = _by_topic(ctx)
    assert [p["sku"] for p in out[SETTINGS.changelog_topic]] == ["MATCHA-40G"]  # type: ignore[index]
    (net,) = out[SETTINGS.levels_topic]
    assert isinstance(net, m.StockLevelChanged) and net.meta.source == SOURCE
    assert (net.available, net.reserved, net.on_hand) == (5, 1, 6)
    assert net.meta.causation_id == "erp:MATCHA-40G:TOKYO-1:" + T0.isoformat()


def test_own_levels_are_skipped_and_unknown_skus_are_permanent() -> None:
    keeper = _keeper()
    ours = level("MATCHA-40G", "TOKYO-1", 3)
    keeper.apply_level(replace(ours, meta=replace(ours.meta, source=SOURCE)), ctx := _ctx())
    assert ctx.outputs == [] and keeper.book.positions == {}
    with pytest.raises(PermanentError, match="unknown SKU 'GYOKURO-20G'"):
        keeper.apply_level(level("GYOKURO-20G", "TOKYO-1", 3), _ctx())
    with pytest.raises(PermanentError, match="unknown location 'OSAKA-2'"):
        keeper.apply_level(level("MATCHA-40G", "OSAKA-2", 3), _ctx())
    assert keeper.book.positions == {}, "nothing applied"


def test_racing_orders_one_reserved_one_backordered_with_all_outputs() -> None:
    keeper = _keeper()
    keeper.apply_level(level("MATCHA-40G", "TOKYO-1", 1), _ctx("inventory.levels.v1"))
    keeper.reserve_stock(order(1, ("MATCHA-40G", 1)), first := _ctx())
    keeper.reserve_stock(order(2, ("MATCHA-40G", 1)), second := _ctx())
    one, two = _by_topic(first), _by_topic(second)
    (status,) = one[SETTINGS.status_topic]
    assert isinstance(status, m.OrderStatusChanged) and status.status == m.OrderStatus.RESERVED
    (reservation,) = one[SETTINGS.reservations_topic]
    assert isinstance(reservation, m.StockReservation) and reservation.lines[0].location == "TOKYO-1"
    (net,) = one[SETTINGS.levels_topic]
    assert isinstance(net, m.StockLevelChanged) and (net.available, net.reserved) == (0, 1)
    (status,) = two[SETTINGS.status_topic]
    assert isinstance(status, m.OrderStatusChanged) and status.status == m.OrderStatus.BACKORDERED
    assert status.meta.correlation_id == order(2).meta.correlation_id
    assert SETTINGS.levels_topic not in two, "nothing held, nothing changed on the storefront"


def test_the_same_record_again_emits_the_same_decision_a_duplicate_order_nothing() -> None:
    keeper = _keeper()
    keeper.apply_level(level("MATCHA-40G", "TOKYO-1", 5), _ctx("inventory.levels.v1"))
    keeper.reserve_stock(order(1, ("MATCHA-40G", 2)), first := _ctx())
    keeper.reserve_stock(order(1, ("MATCHA-40G", 2)), again := replace(first, outputs=[]))  # after an abort
    assert [(o.topic, o.key) for o in again.outputs] == [(o.topic, o.key) for o in first.outputs]
    assert keeper.book.sellable("MATCHA-40G", "TOKYO-1") == 3
    keeper.reserve_stock(order(1, ("MATCHA-40G", 2)), duplicate := _ctx())
    assert duplicate.outputs == []
    keeper.book.recent.clear()
    keeper.reserve_stock(order(1, ("MATCHA-40G", 2)), after_restart := replace(first, outputs=[]))
    assert after_restart.outputs == []


def test_an_order_before_the_first_stock_file_waits_and_is_reserved_when_it_comes() -> None:
    keeper = _keeper()
    keeper.reserve_stock(order(1, ("MATCHA-40G", 2)), waiting := _ctx())
    assert [o.topic for o in waiting.outputs] == [SETTINGS.changelog_topic], "only the waiting order recorded"
    keeper.apply_level(level("MATCHA-40G", "TOKYO-1", 5), stock := _ctx("inventory.levels.v1"))
    out = _by_topic(stock)
    (status,) = out[SETTINGS.status_topic]
    assert isinstance(status, m.OrderStatusChanged) and status.status == m.OrderStatus.RESERVED
    assert status.meta.causation_id == order(1).meta.event_id
    (net,) = out[SETTINGS.levels_topic]
    assert isinstance(net, m.StockLevelChanged) and net.available == 3


def test_any_record_decides_the_orders_that_waited_too_long() -> None:
    now = [later(1)]
    keeper = StockKeeper(StockBook(timedelta(minutes=15), timedelta(minutes=1)), SKU_MAP, SETTINGS,
                         clock=lambda: now[0])
    keeper.reserve_stock(order(1, ("GYOKURO-20G", 1)), _ctx())
    assert keeper.book.parked
    now[0] = later(4)
    ours = level("MATCHA-40G", "TOKYO-1", 3)
    tick = _ctx("inventory.levels.v1")
    keeper.apply_level(replace(ours, meta=replace(ours.meta, source=SOURCE)), tick)
    (status,) = _by_topic(tick)[SETTINGS.status_topic]
    assert isinstance(status, m.OrderStatusChanged) and status.status == m.OrderStatus.BACKORDERED
    assert keeper.book.parked == {}
