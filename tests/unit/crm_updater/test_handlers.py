"""crm-updater's handlers: state to the changelog and contact to the outbox; no email is permanent."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bus.contracts import models as m
from bus.contracts.examples import examples, order_placed
from bus.errors import PermanentError
from bus.runtime.handlers import Context
from services.crm_updater.handlers import CustomerFigures
from services.crm_updater.profiles import CustomerBook


def _ctx() -> Context:
    return Context(topic="orders.placed.v1", partition=0, offset=0, key=None, headers=[], timestamp_ms=None)


def test_order_updates_figures_and_emits_state_and_contact() -> None:
    book = CustomerBook()
    figures = CustomerFigures(book, "changelog", "outbox")
    ctx = _ctx()
    figures.count_order(order_placed(1042), ctx)
    assert [(o.topic, o.key) for o in ctx.outputs] == [("changelog", "hanako.sato@example.jp"),
                                                       ("outbox", "hanako.sato@example.jp")]
    assert ctx.outputs[1].value["properties"]["ecombus_orders_count"] == "1"
    assert len(ctx.outputs[0].value["orders"]) == 1


def test_replayed_order_does_not_count_twice_but_is_recorded_again() -> None:
    figures = CustomerFigures(CustomerBook(), "changelog", "outbox")
    for _ in range(3):
        figures.count_order(order_placed(1042), ctx := _ctx())
    assert ctx.outputs[1].value["properties"]["ecombus_orders_count"] == "1"
    assert len(ctx.outputs) == 2, "emitted again so Kafka catches up with memory after an abort"


def test_profile_and_orders_meet_in_one_contact() -> None:
    book = CustomerBook()
    figures = CustomerFigures(book, "changelog", "outbox")
    profile = examples()["CustomerUpserted"]
    assert isinstance(profile, m.CustomerUpserted)
    shouting = replace(profile.customer, email="HANAKO.SATO@example.jp")
    figures.apply_profile(replace(profile, customer=shouting), _ctx())
    figures.count_order(order_placed(1042), ctx := _ctx())
    props = ctx.outputs[1].value["properties"]
    assert props["hs_language"] == "ja-JP" and props["ecombus_orders_count"] == "1"
    assert len(book) == 1


def test_no_email_is_a_permanent_error_with_the_reason() -> None:
    figures = CustomerFigures(CustomerBook(), "changelog", "outbox")
    order = order_placed()
    guest = replace(order, customer=replace(order.customer, email=None))
    with pytest.raises(PermanentError, match="no customer email"):
        figures.count_order(guest, _ctx())
