"""The reservation state machine: never oversells, decides once, levels never go back in time."""

from __future__ import annotations

from datetime import timedelta

from bus.contracts import models as m
from services.inventory_sync.stock import StockBook
from tests.unit.inventory_sync.stock_events import T0, later, level, order

R = m.ReservationResult


def _book(settle_minutes: float = 15) -> StockBook:
    return StockBook(timedelta(minutes=settle_minutes))


def test_two_orders_racing_for_the_last_unit_get_exactly_one_reservation() -> None:
    book = _book()
    book.apply_level(level("MATCHA-40G", "TOKYO-1", 1))
    first = book.reserve(order(1, ("MATCHA-40G", 1)), later(1), later(1))
    second = book.reserve(order(2, ("MATCHA-40G", 1)), later(1), later(1))
    assert first is not None and second is not None
    assert (first.result, first.status) == (R.RESERVED, m.OrderStatus.RESERVED)
    assert (second.result, second.status) == (R.OUT_OF_STOCK, m.OrderStatus.BACKORDERED)
    assert second.reason == "not enough stock: MATCHA-40G (0 of 1)"
    assert book.sellable("MATCHA-40G", "TOKYO-1") == 0


def test_partial_lines_pick_the_location_with_most_stock() -> None:
    book = _book()
    book.apply_level(level("MATCHA-40G", "TOKYO-1", 3))
    book.apply_level(level("MATCHA-40G", "LA-1", 5))
    decision = book.reserve(order(1, ("MATCHA-40G", 4), ("WHISK-BAMBOO", 1), ("MATCHA-40G", 9)), T0, T0)
    assert decision is not None
    assert [(ln.reserved, ln.location, ln.result) for ln in decision.lines] == [
        (4, "LA-1", R.RESERVED), (0, None, R.OUT_OF_STOCK), (3, "TOKYO-1", R.PARTIAL)]
    assert decision.result == R.PARTIAL and decision.status == m.OrderStatus.BACKORDERED
    assert decision.touched == {"MATCHA-40G": {"LA-1", "TOKYO-1"}}
    assert (book.sellable("MATCHA-40G", "LA-1"), book.sellable("MATCHA-40G", "TOKYO-1")) == (1, 0)


def test_an_order_is_decided_once() -> None:
    book = _book()
    book.apply_level(level("MATCHA-40G", "TOKYO-1", 5))
    placed = order(1, ("MATCHA-40G", 2))
    decision = book.reserve(placed, T0, T0, ("orders", 0, 7))
    assert book.reserve(placed, T0, later(5), ("orders", 0, 7)) is decision, "same record: emit again"
    assert book.reserve(placed, T0, later(5), ("orders", 1, 3)) is None, "a duplicate order event"
    assert book.sellable("MATCHA-40G", "TOKYO-1") == 3, "no second hold"
    book.recent.clear()  # as after a restart: only the reservations topic knows it
    assert book.reserve(placed, T0, later(5), ("orders", 0, 7)) is None


def test_a_line_that_already_holds_stock_takes_nothing_more() -> None:
    book = _book()
    book.apply_level(level("MATCHA-40G", "TOKYO-1", 5))
    placed = order(1, ("MATCHA-40G", 2))
    book.reserve(placed, T0, T0)
    book.recent.clear()
    book.decided.clear()  # the hold was committed, the decision was not (aborted transaction)
    again = book.reserve(placed, T0, T0)
    assert again is not None and again.result == R.RESERVED
    assert book.sellable("MATCHA-40G", "TOKYO-1") == 3


def test_older_counts_are_ignored_and_newer_ones_absorb_settled_holds() -> None:
    book = _book(settle_minutes=15)
    book.apply_level(level("MATCHA-40G", "TOKYO-1", 10, as_of=T0))
    book.reserve(order(1, ("MATCHA-40G", 4)), later(1), later(1))
    assert not book.apply_level(level("MATCHA-40G", "TOKYO-1", 50, as_of=later(-60)))
    assert book.sellable("MATCHA-40G", "TOKYO-1") == 6
    book.apply_level(level("MATCHA-40G", "TOKYO-1", 10, as_of=later(10)))
    assert book.sellable("MATCHA-40G", "TOKYO-1") == 6, "too early: the ERP cannot know the order yet"
    book.apply_level(level("MATCHA-40G", "TOKYO-1", 6, as_of=later(16)))
    assert book.sellable("MATCHA-40G", "TOKYO-1") == 6, "the ERP's count includes the order now"
    assert book.positions["MATCHA-40G"].holds == {}


def test_unknown_sku_is_out_of_stock_and_creates_no_position() -> None:
    book = _book()
    decision = book.reserve(order(1, ("NOPE", 1)), T0, T0)
    assert decision is not None and decision.result == R.OUT_OF_STOCK and "NOPE" not in book.positions
