"""Deciding orders: never oversells, decides once, waits for unknown SKUs, levels never go back."""

from __future__ import annotations

from datetime import datetime, timedelta

from bus.contracts import models as m
from services.inventory_sync.allocation import Decision, Outcome, StockBook
from services.inventory_sync.stock import OrderRequest
from tests.unit.inventory_sync.stock_events import T0, later, level, order

R = m.ReservationResult
SRC = ("orders", 0, 1)


def _book(settle_minutes: float = 15, park_minutes: float = 5) -> StockBook:
    return StockBook(timedelta(minutes=settle_minutes), timedelta(minutes=park_minutes))


def _level(book: StockBook, event: m.StockLevelChanged, now: datetime = T0,
           source: tuple[str, int, int] = ("levels", 0, 0)) -> Outcome:
    outcome = Outcome()
    book.apply_level(event, now, source, outcome)
    return outcome


def _reserve(book: StockBook, placed: m.OrderPlaced, arrived: datetime = T0, now: datetime | None = None,
             source: tuple[str, int, int] = SRC) -> Outcome:
    outcome = Outcome()
    book.reserve(OrderRequest.of(placed, arrived), now or arrived, source, outcome)
    return outcome


def _only(outcome: Outcome) -> Decision:
    (decision,) = outcome.decisions.values()
    return decision


def test_two_orders_racing_for_the_last_unit_get_exactly_one_reservation() -> None:
    book = _book()
    _level(book, level("MATCHA-40G", "TOKYO-1", 1))
    first = _only(_reserve(book, order(1, ("MATCHA-40G", 1)), later(1), source=("orders", 0, 1)))
    second = _only(_reserve(book, order(2, ("MATCHA-40G", 1)), later(1), source=("orders", 1, 1)))
    assert (first.result, first.status) == (R.RESERVED, m.OrderStatus.RESERVED)
    assert (second.result, second.status) == (R.OUT_OF_STOCK, m.OrderStatus.BACKORDERED)
    assert second.reason == "not enough stock: MATCHA-40G (0 of 1)"
    assert book.sellable("MATCHA-40G", "TOKYO-1") == 0


def test_partial_lines_pick_the_location_with_most_stock() -> None:
    book = _book()
    _level(book, level("MATCHA-40G", "TOKYO-1", 3))
    _level(book, level("MATCHA-40G", "LA-1", 5))
    _level(book, level("WHISK-BAMBOO", "LA-1", 0))
    outcome = _reserve(book, order(1, ("MATCHA-40G", 4), ("WHISK-BAMBOO", 1), ("MATCHA-40G", 9)))
    decision = _only(outcome)
    assert [(ln.reserved, ln.location, ln.result) for ln in decision.lines] == [
        (4, "LA-1", R.RESERVED), (0, None, R.OUT_OF_STOCK), (3, "TOKYO-1", R.PARTIAL)]
    assert decision.result == R.PARTIAL and decision.status == m.OrderStatus.BACKORDERED
    assert outcome.touched == {"MATCHA-40G": {"LA-1", "TOKYO-1"}}
    assert (book.sellable("MATCHA-40G", "LA-1"), book.sellable("MATCHA-40G", "TOKYO-1")) == (1, 0)


def test_an_order_is_decided_once() -> None:
    book = _book()
    _level(book, level("MATCHA-40G", "TOKYO-1", 5))
    placed = order(1, ("MATCHA-40G", 2))
    decision = _only(_reserve(book, placed, source=("orders", 0, 7)))
    assert _only(_reserve(book, placed, source=("orders", 0, 7))) is decision, "same record: emit again"
    assert _reserve(book, placed, source=("orders", 1, 3)).decisions == {}, "a duplicate order event"
    assert book.sellable("MATCHA-40G", "TOKYO-1") == 3, "no second hold"
    book.recent.clear()  # as after a restart: only the reservations topic knows it
    assert _reserve(book, placed, source=("orders", 0, 7)).decisions == {}


def test_a_line_that_already_holds_stock_takes_nothing_more() -> None:
    book = _book()
    _level(book, level("MATCHA-40G", "TOKYO-1", 5))
    placed = order(1, ("MATCHA-40G", 2))
    _reserve(book, placed)
    book.recent.clear()
    book.decided.clear()  # the hold was committed, the decision was not (aborted transaction)
    book.ledgers.clear()  # nor the ledger, written with the decision
    assert _only(_reserve(book, placed)).result == R.RESERVED
    assert book.sellable("MATCHA-40G", "TOKYO-1") == 3


def test_older_counts_are_ignored_and_newer_ones_absorb_settled_holds() -> None:
    book = _book(settle_minutes=15)
    _level(book, level("MATCHA-40G", "TOKYO-1", 10, as_of=T0))
    _reserve(book, order(1, ("MATCHA-40G", 4)), later(1))
    stale = level("MATCHA-40G", "TOKYO-1", 50, as_of=later(-60))
    assert not book.apply_level(stale, T0, ("levels", 0, 1), Outcome())
    assert book.sellable("MATCHA-40G", "TOKYO-1") == 6
    _level(book, level("MATCHA-40G", "TOKYO-1", 10, as_of=later(10)))
    assert book.sellable("MATCHA-40G", "TOKYO-1") == 6, "too early: the ERP cannot know the order yet"
    _level(book, level("MATCHA-40G", "TOKYO-1", 6, as_of=later(16)))
    assert book.sellable("MATCHA-40G", "TOKYO-1") == 6, "the ERP's count includes the order now"
    assert book.positions["MATCHA-40G"].holds == {}


def test_an_order_read_before_its_skus_first_level_waits_for_it() -> None:
    book = _book(park_minutes=5)
    _level(book, level("MATCHA-40G", "TOKYO-1", 5))
    waiting = _reserve(book, order(1, ("MATCHA-40G", 1), ("BOWL-CHAWAN", 2)))
    assert waiting.decisions == {} and waiting.touched == {"BOWL-CHAWAN": set()}
    assert set(book.parked) == {order(1).order_id}
    released = _level(book, level("BOWL-CHAWAN", "TOKYO-1", 7), now=later(1), source=("levels", 0, 9))
    decision = _only(released)
    assert decision.result == R.RESERVED and decision.source == ("levels", 0, 9)
    assert book.parked == {} and book.positions["BOWL-CHAWAN"].waiting == {}
    assert _only(book.replay(("levels", 0, 9))) is decision, "the level handed again emits it again"
    assert (book.sellable("BOWL-CHAWAN", "TOKYO-1"), book.sellable("MATCHA-40G", "TOKYO-1")) == (5, 4)


def test_an_order_waits_at_most_the_park_timeout() -> None:
    book = _book(park_minutes=5)
    _reserve(book, order(1, ("GYOKURO-20G", 1)), arrived=T0)
    early = Outcome()
    book.expire(later(4), ("orders", 0, 5), early)
    assert early.decisions == {}
    late = Outcome()
    book.expire(later(5), ("orders", 0, 6), late)
    assert _only(late).result == R.OUT_OF_STOCK and book.parked == {}
    assert book.positions["GYOKURO-20G"].waiting == {}
    assert _reserve(book, order(2, ("GYOKURO-20G", 1)), arrived=T0, now=later(6)).decisions, \
        "an order that arrives already too old is decided at once"
