"""crm-updater after the sale: figures net of refunds and cancellations, exact, idempotent, restored."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from bus.contracts import models as m
from bus.contracts.examples import PLACED_AT, examples, meta, order_placed
from bus.errors import InvalidInput, NotFound
from bus.runtime.handlers import Context
from services.crm_updater.changelog import state_from_record, state_record
from services.crm_updater.handlers import CustomerFigures
from services.crm_updater.profiles import CustomerBook

EMAIL = "hanako.sato@example.jp"


def _ctx() -> Context:
    return Context(topic="t", partition=0, offset=0, key=None, headers=[], timestamp_ms=None)


def _order(number: int, total: str, currency: str) -> m.OrderPlaced:
    order = order_placed(number)
    money = m.MoneySet(shop=m.Money(amount=Decimal(total), currency=currency))
    return replace(order, currency=currency, totals=replace(order.totals, total=money))


def _refund(order: m.OrderPlaced, refund_id: str, amount: str, minutes: int = 0) -> m.OrderRefunded:
    refund = examples()["OrderRefunded"]
    assert isinstance(refund, m.OrderRefunded)
    money = m.MoneySet(shop=m.Money(amount=Decimal(amount), currency=order.currency))
    return replace(refund, meta=meta(f"shopify:refund:{refund_id}"), order_id=order.order_id,
                   refund_id=refund_id, currency=order.currency, total=money,
                   refunded_at=PLACED_AT + timedelta(minutes=minutes))


def _cancel(order: m.OrderPlaced) -> m.OrderCancelled:
    cancelled = examples()["OrderCancelled"]
    assert isinstance(cancelled, m.OrderCancelled)
    return replace(cancelled, order_id=order.order_id)


def _props(ctx: Context) -> dict[str, Any]:
    props: dict[str, Any] = ctx.outputs[-1].value["properties"]
    return props


def _figures(*orders: m.OrderPlaced) -> CustomerFigures:
    figures = CustomerFigures(CustomerBook(), "changelog", "outbox")
    for order in orders:
        figures.count_order(order, _ctx())
    return figures


def test_kwd_refund_nets_three_decimals_exactly_and_is_the_last_refund() -> None:
    order = _order(1, "12.500", "KWD")
    figures = _figures(order, _order(2, "19.31", "USD"))
    figures.apply_refund(_refund(order, "r-1", "2.125"), ctx := _ctx())
    props = _props(ctx)
    assert props["ecombus_lifetime_spend_kwd"] == "10.375"
    assert props["ecombus_lifetime_spend_usd"] == "19.31", "other currencies untouched"
    assert props["ecombus_orders_count"] == "2", "a partial refund keeps the order counted"
    assert (props["ecombus_last_refund_amount"], props["ecombus_last_refund_currency"]) == ("2.125", "KWD")
    assert props["ecombus_last_refund_at"] == PLACED_AT.isoformat()
    assert props["ecombus_last_refund_order_id"] == order.order_id


def test_jpy_refund_nets_whole_yen_and_the_latest_refund_wins() -> None:
    order = _order(1, "5400", "JPY")
    figures = _figures(order)
    figures.apply_refund(_refund(order, "r-2", "1800", minutes=5), _ctx())
    figures.apply_refund(_refund(order, "r-1", "600", minutes=1), ctx := _ctx())
    props = _props(ctx)
    assert props["ecombus_lifetime_spend_jpy"] == "3000"
    assert props["ecombus_last_refund_amount"] == "1800", "the latest by refunded_at, not by arrival"


def test_the_same_refund_twice_changes_nothing_but_is_recorded_again() -> None:
    order = _order(1, "12.500", "KWD")
    figures = _figures(order)
    figures.apply_refund(_refund(order, "r-1", "2.125"), first := _ctx())
    figures.apply_refund(_refund(order, "r-1", "2.125"), again := _ctx())
    assert _props(again) == _props(first)
    assert _props(again)["ecombus_lifetime_spend_kwd"] == "10.375"
    assert len(again.outputs) == 2, "emitted again so Kafka catches up with memory after an abort"


@pytest.mark.parametrize("cancel_first", [False, True])
def test_cancellation_and_full_refund_subtract_once_in_either_order(cancel_first: bool) -> None:
    order, other = _order(1, "5400", "JPY"), _order(2, "1000", "JPY")
    figures = _figures(order, other)
    steps = [lambda c: figures.apply_refund(_refund(order, "r-1", "5400"), c),
             lambda c: figures.apply_cancellation(_cancel(order), c)]
    for step in steps[::-1] if cancel_first else steps:
        step(ctx := _ctx())
    figures.apply_cancellation(_cancel(order), ctx := _ctx())
    props = _props(ctx)
    assert props["ecombus_lifetime_spend_jpy"] == "1000", "the other order only, nothing below it"
    assert props["ecombus_orders_count"] == "1"
    assert props["ecombus_last_refund_amount"] == "5400"


def test_a_cancelled_only_order_leaves_its_currency_at_zero() -> None:
    order = _order(1, "12.500", "KWD")
    figures = _figures(order)
    figures.apply_cancellation(_cancel(order), ctx := _ctx())
    props = _props(ctx)
    assert (props["ecombus_orders_count"], props["ecombus_lifetime_spend_kwd"]) == ("0", "0")


def test_refunds_beyond_the_total_never_make_revenue_negative() -> None:
    order = _order(1, "10.00", "USD")
    figures = _figures(order)
    figures.apply_refund(_refund(order, "r-1", "8.00"), _ctx())
    figures.apply_refund(_refund(order, "r-2", "8.00"), ctx := _ctx())
    assert _props(ctx)["ecombus_lifetime_spend_usd"] == "0"


def test_unknown_order_is_not_found_with_the_reason_and_changes_nothing() -> None:
    figures = _figures(_order(1, "10.00", "USD"))
    stranger = _order(99, "1.00", "USD")
    never = f"refund r-9 for order {stranger.order_id}, which the CRM never counted"
    with pytest.raises(NotFound, match=never):
        figures.apply_refund(_refund(stranger, "r-9", "1.00"), _ctx())
    with pytest.raises(NotFound, match="cancellation for order"):
        figures.apply_cancellation(_cancel(stranger), _ctx())


def test_a_refund_in_another_currency_is_invalid_and_not_taken() -> None:
    order = _order(1, "10.00", "USD")
    figures = _figures(order)
    wrong = replace(_refund(order, "r-1", "5"), total=m.MoneySet(shop=m.Money(amount=Decimal(5),
                                                                                  currency="JPY")))
    with pytest.raises(InvalidInput, match="refund r-1 is in JPY"):
        figures.apply_refund(wrong, _ctx())
    figures.apply_refund(_refund(order, "r-1", "1.00"), ctx := _ctx())
    assert _props(ctx)["ecombus_lifetime_spend_usd"] == "9", "the id was not burnt by the invalid one"


def test_refunds_and_cancellation_survive_the_changelog_and_find_their_customer_after_restore() -> None:
    order, other = _order(1, "12.500", "KWD"), _order(2, "3.000", "KWD")
    figures = _figures(order, other)
    figures.apply_refund(_refund(order, "r-1", "2.125"), _ctx())
    figures.apply_cancellation(_cancel(other), ctx := _ctx())
    state = figures.book.for_email(EMAIL)
    restored_book = CustomerBook()
    restored_book.put(state_from_record(state_record(state)))
    restored = CustomerFigures(restored_book, "changelog", "outbox")
    restored.apply_refund(_refund(order, "r-1", "2.125"), again := _ctx())
    assert _props(again) == _props(ctx), "the restored refund id still dedupes"
    assert _props(again)["ecombus_lifetime_spend_kwd"] == "10.375"
    assert _props(again)["ecombus_orders_count"] == "1"


def test_a_changelog_record_from_before_refunds_reads_as_none() -> None:
    figures = _figures(_order(1, "10.00", "USD"))
    record = state_record(figures.book.for_email(EMAIL))
    for order in record["orders"]:
        del order["refunds"], order["cancelled"]
    state = state_from_record(record)
    assert state.contact_properties()["ecombus_lifetime_spend_usd"] == "10"
