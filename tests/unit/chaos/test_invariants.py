"""The chaos run's verdicts, from evidence written by hand: each invariant passes and fails."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from simulators.chaos.evidence import DeadLetter, Evidence
from simulators.chaos.invariants import (
    Window,
    crm_rows,
    dead_letter_rows,
    erp_rows,
    judge,
    order_rows,
    pending,
    shipment_rows,
    stock_rows,
)
from simulators.chaos.traffic import Attempt, SentOrder, Shipment

SHOP = "shopify:hanako-tea.myshopify.com"


def placed(number: int, email: str = "ada@example.com", amount: str = "10.50", currency: str = "USD",
           lines: tuple[tuple[str, int], ...] = (("MATCHA-40G", 2),)) -> dict[str, Any]:
    return {"order_id": f"{SHOP}:{number}", "order_number": f"#{number}", "platform_order_id": str(number),
            "meta": {"source": {"platform": "shopify", "system": "hanako-tea.myshopify.com"}},
            "customer": {"email": email}, "totals": {"total": {"shop": {"amount": Decimal(amount),
                                                                       "currency": currency}}},
            "lines": [{"sku": sku, "quantity": qty} for sku, qty in lines]}


def sent(number: int, *statuses: int | None, delivery: str | None = None) -> SentOrder:
    order = SentOrder(number, "shopify", f"{SHOP}:{number}", number)
    order.attempts = [Attempt(1.0, s, 0.01, delivery or f"d{number}-{i}") for i, s in enumerate(statuses)]
    return order


def evidence(*orders: dict[str, Any]) -> Evidence:
    ev = Evidence()
    for order in orders:
        ev.placed[order["order_id"]] += 1
        ev.orders.setdefault(order["order_id"], order)
    return ev


def row(rows: list[Any], name: str) -> Any:
    return next(r for r in rows if r.name == name)


def test_orders_lost_duplicated_unreconciled_and_not_stored_fail() -> None:
    ev = evidence(placed(1), placed(2), placed(2))
    ev.intake_deliveries = {"d1-1", "d2-0"}
    rows = order_rows(ev, [sent(1, 503, 200), sent(2, 200), sent(3, 200), sent(4, None)])
    assert row(rows, "orders").ok is None
    placed_row = row(rows, "orders.placed.v1")
    assert not placed_row.ok and "lost 1, duplicated 1" in placed_row.figures
    assert "not reconciled 1" in placed_row.figures and placed_row.waiting
    assert not row(rows, "intake").ok and row(rows, "intake").examples == ["d3-0"]
    good = evidence(placed(1))
    good.intake_deliveries = {"d1-1"}
    assert all(r.ok is not False for r in order_rows(good, [sent(1, 503, 200)]))


def test_oversold_and_inexact_stock_and_reservations_fail() -> None:
    ev = evidence(placed(1), placed(2), placed(3))
    line = {"sku": "MATCHA-40G", "location": "TOKYO-1", "reserved": 3}
    ev.reservations.update({f"{SHOP}:1": [{"lines": [line]}], f"{SHOP}:2": [{"lines": [line]}] * 2})
    ev.net_levels[("MATCHA-40G", "TOKYO-1")] = 0
    ev.store = {"inventory": [{"inventory_item_id": 808950810, "location_id": 655441491, "available": 0}]}
    rows = stock_rows(ev, {("MATCHA-40G", "TOKYO-1"): 5})
    assert "missing 1, duplicated 1" in row(rows, "reservations").figures
    assert not row(rows, "oversold").ok and "6 reserved of 5" in row(rows, "oversold").examples[0]
    assert row(rows, "stock").ok  # sold out: 0 sellable everywhere
    rows = stock_rows(ev, {("MATCHA-40G", "TOKYO-1"): 8})
    assert row(rows, "oversold").ok
    stock = row(rows, "stock")
    assert not stock.ok and "= 2, inventory-sync 0, storefront 0" in stock.examples[0]


def test_erp_rows_and_cxml_orders_missing_and_duplicated_fail() -> None:
    ev = evidence(placed(1, lines=(("MATCHA-40G", 1), ("YUZU-SOAP", 2))), placed(2))
    ev.erp = {"imports": {"rows": [{"External ID": "SHOP-1"}] * 3},
              "orders": [{"order_id": "SHOP-1", "payload_id": "a"},
                         {"order_id": "SHOP-1", "payload_id": "b"}],
              "redelivered": ["a"]}
    rows = erp_rows(ev)
    assert "missing 1, duplicated 1" in row(rows, "ERP rows").figures
    assert "missing 1, duplicated 1 (same payloadID again: 1" in row(rows, "cXML orders").figures
    ev.erp = {"imports": {"rows": [{"External ID": "SHOP-1"}] * 2 + [{"External ID": "SHOP-2"}]},
              "orders": [{"order_id": "SHOP-1", "payload_id": "a"},
                         {"order_id": "SHOP-2", "payload_id": "c"}]}
    assert all(r.ok for r in erp_rows(ev))


def test_fulfillments_and_delivered_statuses() -> None:
    ev = evidence()
    ev.store = {"fulfillments": [{"tracking_number": "T1"}, {"tracking_number": "T1"}]}
    ev.statuses[f"{SHOP}:1"] = {"RESERVED", "DELIVERED"}
    shipments = [Shipment(f"{SHOP}:1", "T1", 1, True), Shipment(f"{SHOP}:2", "T2", 1, True),
                 Shipment(f"{SHOP}:3", "T3", 6, False)]
    rows = shipment_rows(ev, shipments)
    assert "2 parcels acknowledged (1 not)" in row(rows, "fulfillments").figures
    fulfillments = row(rows, "fulfillments")
    assert "missing 1, pushed again 1 (at-least-once)" in fulfillments.figures and not fulfillments.ok
    ev.store["fulfillments"].append({"tracking_number": "T2"})
    assert row(shipment_rows(ev, shipments), "fulfillments").ok, "pushed again is not a violation"
    assert not row(rows, "DELIVERED").ok and row(rows, "DELIVERED").examples == [f"{SHOP}:2"]


def test_crm_figures_must_match_the_orders_exactly() -> None:
    ev = evidence(placed(1, "Ada@Example.com", "10.50"), placed(2, "ada@example.com", "0.25"),
                  placed(3, "ada@example.com", "100", "JPY"))
    props = {"ecombus_orders_count": "3", "ecombus_lifetime_spend_usd": "10.75",
             "ecombus_lifetime_spend_jpy": "100"}
    ev.crm = {"contacts": {"ada@example.com": {"properties": props}}}
    assert row(crm_rows(ev), "CRM figures").ok
    props["ecombus_orders_count"] = "4"
    wrong = row(crm_rows(ev), "CRM figures")
    assert not wrong.ok and "expected 3" in wrong.examples[0] and "ada@" not in wrong.examples[0]


def test_dead_letters_are_expected_only_when_transient_during_a_fault() -> None:
    faults = [Window(100.0, 130.0)]
    letters = [DeadLetter("router", "transient", "ERP 503", 110.0, 125.0),
               DeadLetter("router", "transient", "ERP 503", 200.0, 210.0),
               DeadLetter("inventory-sync", "permanent", "unknown SKU", 110.0, 110.0)]
    [dead] = dead_letter_rows(letters, faults, replayed=1)
    assert not dead.ok and "1 expected" in dead.figures and "2 unexpected" in dead.figures
    assert dead_letter_rows(letters[:1], faults, replayed=1)[0].ok


def test_a_quiet_bus_passes_everything_and_nothing_is_pending() -> None:
    ev = evidence(placed(1))
    ev.intake_deliveries = {"d1-0"}
    ev.reservations[f"{SHOP}:1"] = [{"lines": [{"sku": "MATCHA-40G", "location": "LA-1", "reserved": 2}]}]
    ev.net_levels[("MATCHA-40G", "LA-1")] = 3
    ev.store = {"inventory": [{"inventory_item_id": 808950810, "location_id": 655441492, "available": 3}]}
    ev.erp = {"imports": {"rows": [{"External ID": "SHOP-1"}]},
              "orders": [{"order_id": "SHOP-1", "payload_id": "p"}]}
    ev.crm = {"contacts": {"ada@example.com": {"properties": {"ecombus_orders_count": "1",
                                                             "ecombus_lifetime_spend_usd": "10.5"}}}}
    rows = judge(ev, [sent(1, 200)], [], {("MATCHA-40G", "LA-1"): 5})
    assert [r.name for r in rows if r.ok is False] == [] and pending(rows) == []
    ev.erp = {}
    assert pending(judge(ev, [sent(1, 200)], [], {("MATCHA-40G", "LA-1"): 5})) == [
        "ERP rows: 0 rows for 0 orders, missing 1, duplicated 0",
        "cXML orders: 0 orders, missing 1, duplicated 0 (same payloadID again: 0, at-least-once)"]
