"""Customer state: orders counted once, spend per currency, newest profile wins, CRM properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from bus.contracts import models as m
from bus.contracts.examples import examples, order_placed
from services.crm_updater.profiles import CustomerBook, contact_key


def _jpy_order(number: int) -> m.OrderPlaced:
    order = order_placed(number)
    total = m.MoneySet(shop=m.Money(amount=Decimal("5400"), currency="JPY"))
    return replace(order, currency="JPY", totals=replace(order.totals, total=total))


def test_an_order_counts_once_and_spend_is_exact_per_currency() -> None:
    book = CustomerBook()
    state = book.for_email("Hanako.Sato@Example.jp")
    first, second = order_placed(1042), order_placed(1043)
    assert state.count_order(first) and state.count_order(second) and state.count_order(_jpy_order(1044))
    assert not state.count_order(first), "a replayed order must not count twice"
    assert len(state.orders) == 3
    usd = first.totals.total.shop.amount + second.totals.total.shop.amount
    assert state.lifetime_spend() == {"USD": usd, "JPY": Decimal("5400")}
    props = state.contact_properties()
    assert props["ecombus_orders_count"] == "3"
    assert props["ecombus_lifetime_spend_usd"] == format(usd.normalize(), "f")
    assert props["ecombus_lifetime_spend_jpy"] == "5400"
    assert all(isinstance(v, str) for v in props.values())


def test_order_fills_unknown_fields_and_keeps_japanese_text() -> None:
    state = CustomerBook().for_email("hanako.sato@example.jp")
    state.count_order(order_placed())
    props = state.contact_properties()
    assert (props["firstname"], props["lastname"], props["city"]) == ("花子", "佐藤", "渋谷区")
    assert props["address"] == "神宮前1丁目2\u22123 青葉ビル５Ｆ"
    assert props["ecombus_last_order_id"] == order_placed().order_id


def test_newest_profile_wins_and_an_older_one_changes_nothing() -> None:
    profile = examples()["CustomerUpserted"]
    assert isinstance(profile, m.CustomerUpserted)
    state = CustomerBook().for_email(profile.customer.email or "")
    assert state.apply_profile(profile)
    assert state.contact_properties()["hs_language"] == "ja-JP"
    assert state.contact_properties()["ecombus_accepts_marketing"] == "true"
    at = profile.meta.occurred_at
    older = replace(profile, meta=replace(profile.meta, occurred_at=at - timedelta(days=1)),
                    customer=replace(profile.customer, first_name="Old"), locale="en-US")
    assert not state.apply_profile(older)
    newer = replace(profile, meta=replace(profile.meta, occurred_at=at + timedelta(days=1)),
                    customer=replace(profile.customer, first_name="ハナコ"), accepts_marketing=False)
    assert state.apply_profile(newer)
    assert state.contact_properties()["firstname"] == "ハナコ"
    assert state.contact_properties()["ecombus_accepts_marketing"] == "false"
    assert not state.apply_profile(newer), "the same profile again changes nothing"


def test_customers_are_keyed_by_lower_cased_email() -> None:
    book = CustomerBook()
    assert book.for_email(" Hanako@Example.JP ") is book.for_email("hanako@example.jp")
    assert contact_key("A@B.C") == "a@b.c" and len(book) == 1
