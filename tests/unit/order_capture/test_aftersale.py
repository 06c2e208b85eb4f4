"""After-sale webhooks → OrderCancelled, OrderRefunded, ReturnUpdated, DisputeUpdated.

Each fixture (simulators/fixtures/aftersale/, shaped as the platforms document their bodies) goes
through :meth:`OrderCapture.interpret`, as the intake stage calls it: exact decimals in the
currency's own precision (USD, KWD three decimals, JPY none), restock types, WooCommerce's
negative refund lines, BigCommerce's thin webhooks with the refunds fetched, and the dedupe key
of every part (also its event id). Every event is encoded and decoded through Avro unchanged.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bus.contracts import models as m
from bus.errors import InvalidInput
from bus.http import ApiClient
from bus.serde import AvroCodec
from bus.webhooks.body import parse_json_object
from bus.webhooks.endpoint import Delivery
from bus.webhooks.intake import RECONCILIATION
from bus.webhooks.publication import Publication
from services.order_capture.handlers import Identities, OrderCapture, Topics
from simulators import fixture
from tests.unit.serde.fake_registry import FakeRegistry

SHOP = "hanako-tea.myshopify.com"
ORDER = f"shopify:{SHOP}:6120004415"
TRIGGERED = "2025-06-06T01:00:00+00:00"
CODEC = AvroCodec(FakeRegistry().client())


def _body(name: str) -> bytes:
    return fixture(f"aftersale/{name}")


def shopify(topic: str, body: bytes, *, event_id: str = "evt-1") -> Delivery:
    headers = {"x-shopify-topic": topic, "x-shopify-shop-domain": SHOP, "x-shopify-event-id": event_id,
               "x-shopify-triggered-at": TRIGGERED}
    return Delivery("shopify", "/webhooks/shopify", headers, body, parse_json_object(body), 1_749_000_000.0,
                    tenant=SHOP)


def interpret(delivery: Delivery) -> Publication:
    return OrderCapture(Topics()).interpret(delivery)


def events(publication: Publication) -> list[Any]:
    """The events of a publication, each checked to survive Avro and to be its own part."""
    found = []
    for record in publication.records:
        data = CODEC.encode(record.topic, record.value)
        assert type(record.value).from_avro(CODEC.decode(record.topic, data)) == record.value
        found.append(record.value)
    return found


def keys(publication: Publication) -> list[tuple[str, ...]]:
    return [p.dedupe_keys for p in publication.parts or (publication,)]


def usd(amount: str, jpy: str | None = None) -> m.MoneySet:
    return m.MoneySet(shop=m.Money(amount=Decimal(amount), currency="USD"),
                      presentment=m.Money(amount=Decimal(jpy), currency="JPY") if jpy else None)


def test_shopify_refund_with_restock_of_a_returned_unit_in_both_currencies() -> None:
    publication = interpret(shopify("refunds/create", _body("shopify_refunds_create.json")))
    [refund] = events(publication)
    key = f"{ORDER}:refund:509562969"
    assert keys(publication) == [(key,)] and refund.meta.event_id == key
    assert publication.records[0].topic == "orders.refunds.v1" and publication.records[0].key == ORDER
    assert (refund.order_id, refund.refund_id, refund.currency) == (ORDER, "509562969", "USD")
    assert refund.refunded_at == datetime(2025, 6, 5, 1, 15, tzinfo=UTC)
    [line] = refund.lines
    assert (line.line_id, line.sku, line.quantity) == ("13990001", "MATCHA-40G", 1)
    assert line.location == "655441491"
    assert (line.restock, line.restock_type) == (True, m.RestockType.RETURN)
    assert line.amount == usd("17.80", "2650")
    assert refund.tax == usd("1.51", "225") and refund.shipping is None
    assert refund.total == usd("19.31", "2875")
    [paid] = refund.transactions
    assert (paid.transaction_id, paid.kind, paid.gateway, paid.status) == (
        "389404469", "refund", "shopify_payments", "success")
    assert paid.amount == m.Money(amount=Decimal("19.31"), currency="USD")
    assert refund.reason == "the tin arrived dented"


def test_a_kwd_refund_keeps_three_decimals_and_its_shipping_adjustment() -> None:
    publication = interpret(shopify("refunds/create", _body("shopify_refunds_create_kwd.json")))
    [refund] = events(publication)
    assert refund.currency == "KWD"
    [line] = refund.lines
    assert (line.quantity, line.restock, line.restock_type) == (2, False, m.RestockType.NO_RESTOCK)
    assert str(line.amount.shop.amount) == "12.250"
    assert refund.shipping is not None
    assert str(refund.shipping.shop.amount) == "1.125", "the negative shipping_refund adjustment"
    assert str(refund.total.shop.amount) == "13.375" and refund.total.shop.currency == "KWD"
    assert str(refund.transactions[0].amount.amount) == "13.375"


def test_a_jpy_refund_has_no_decimals_and_a_cancel_restock() -> None:
    publication = interpret(shopify("refunds/create", _body("shopify_refunds_create_jpy.json")))
    [refund] = events(publication)
    [line] = refund.lines
    assert (line.restock, line.restock_type, line.sku) == (True, m.RestockType.CANCEL, "MATCHA-40G")
    assert str(line.amount.shop.amount) == "2650"
    assert refund.shipping is not None and refund.tax is not None
    assert str(refund.shipping.shop.amount) == "500" and str(refund.tax.shop.amount) == "315"
    assert str(refund.total.shop.amount) == "3465" and refund.total.shop.currency == "JPY"
    assert refund.reason == "在庫切れ"


def test_orders_cancelled_is_a_status_change_a_cancellation_and_its_refund_each_under_its_key() -> None:
    publication = interpret(shopify("orders/cancelled", _body("shopify_orders_cancelled.json")))
    status, cancelled, refund = events(publication)
    assert keys(publication) == [(f"shopify:{SHOP}:evt-1",), (f"{ORDER}:cancelled",),
                                 (f"{ORDER}:refund:509562980",)]
    assert isinstance(status, m.OrderStatusChanged) and status.status is m.OrderStatus.CANCELLED
    assert isinstance(cancelled, m.OrderCancelled)
    assert (cancelled.reason, cancelled.restock) == ("customer", True), "its refund restocks (cancel)"
    assert cancelled.cancelled_at == datetime(2025, 6, 4, 0, 0, tzinfo=UTC)
    assert [r.topic for r in publication.records] == ["orders.status.v1", "orders.cancellations.v1",
                                                      "orders.refunds.v1"]
    assert refund.lines[0].restock_type is m.RestockType.CANCEL and refund.total == usd("38.63", "5750")


def test_a_cancellation_without_restocking_lines_says_so() -> None:
    order = json.loads(_body("shopify_orders_cancelled.json"))
    order["refunds"][0]["refund_line_items"][0]["restock_type"] = "no_restock"
    publication = interpret(shopify("orders/cancelled", json.dumps(order).encode()))
    assert events(publication)[1].restock is False


@pytest.mark.parametrize(("topic", "name", "status"), [
    ("returns/request", "shopify_returns_request.json", m.ReturnStatus.REQUESTED),
    ("returns/process", "shopify_returns_process.json", m.ReturnStatus.RECEIVED),
    ("returns/decline", "shopify_returns_decline.json", m.ReturnStatus.DECLINED),
    ("returns/close", "shopify_returns_close.json", m.ReturnStatus.CLOSED)])
def test_each_return_step_is_one_event_keyed_by_return_and_status(topic: str, name: str,
                                                                  status: m.ReturnStatus) -> None:
    publication = interpret(shopify(topic, _body(name)))
    [event] = events(publication)
    return_id = json.loads(_body(name))["id"]
    assert keys(publication) == [(f"{ORDER}:return:{return_id}:{status.value}",)]
    assert (event.order_id, event.status) == (ORDER, status)
    assert publication.records[0].topic == "orders.returns.v1"
    if status is m.ReturnStatus.RECEIVED:
        assert event.received_at == datetime(2025, 6, 6, 1, 0, tzinfo=UTC)
        [line] = event.lines
        assert (line.line_id, line.quantity, line.reason) == ("13990001", 1, "defective")


def test_a_dispute_is_keyed_by_its_status() -> None:
    publication = interpret(shopify("disputes/create", _body("shopify_disputes_create.json")))
    [dispute] = events(publication)
    assert keys(publication) == [(f"{ORDER}:dispute:598735659:NEEDS_RESPONSE",)]
    assert (dispute.kind, dispute.status, dispute.reason) == ("chargeback", m.DisputeStatus.NEEDS_RESPONSE,
                                                              "fraudulent")
    assert dispute.amount == m.Money(amount=Decimal("38.63"), currency="USD")
    assert dispute.evidence_due_by == datetime(2025, 6, 21, 3, 59, 59, tzinfo=UTC)


def test_after_sale_deliveries_are_keyed_at_the_edge_by_their_order() -> None:
    for topic, name in (("refunds/create", "shopify_refunds_create.json"),
                        ("returns/request", "shopify_returns_request.json"),
                        ("returns/close", "shopify_returns_close.json"),
                        ("disputes/create", "shopify_disputes_create.json")):
        assert Identities.shopify(shopify(topic, _body(name))).key == ORDER, topic
    orphan = Identities.shopify(shopify("disputes/create", _body("shopify_disputes_no_order.json")))
    assert orphan.key == f"shopify:{SHOP}:disputes:598735660", "stored, to be dead-lettered with why"


@pytest.mark.parametrize(("topic", "field", "change"), [
    ("disputes/create", "order_id", lambda d: d),
    ("refunds/create", "order_id", lambda d: {**d, "order_id": None}),
    ("refunds/create", "refund_line_items.quantity",
     lambda d: {**d, "refund_line_items": [{**d["refund_line_items"][0], "quantity": "1"}]}),
    ("refunds/create", "transactions.amount",
     lambda d: {**d, "transactions": [{**d["transactions"][0], "amount": "19,31"}]})])
def test_a_refund_or_dispute_without_its_order_or_malformed_is_refused_naming_the_field(
        topic: str, field: str, change: Any) -> None:
    name = "shopify_disputes_no_order.json" if topic.startswith("disputes") else "shopify_refunds_create.json"
    body = json.dumps(change(json.loads(_body(name)))).encode()
    with pytest.raises(InvalidInput) as refused:
        interpret(shopify(topic, body))
    assert refused.value.field == field


def woocommerce(name: str) -> Delivery:
    body = _body(name)
    headers = {"x-wc-webhook-topic": "order.updated", "x-wc-webhook-source": "https://shop.example.de/"}
    return Delivery("woocommerce", "/webhooks/woocommerce", headers, body, parse_json_object(body), 0.0)


def test_woocommerce_refunds_are_normalised_from_negative_lines_one_event_each() -> None:
    publication = OrderCapture(Topics()).interpret(woocommerce("woocommerce_order_updated_refunded.json"))
    full, summary = events(publication)
    order = "woocommerce:shop.example.de:727"
    assert keys(publication) == [(f"{order}:refund:1201",), (f"{order}:refund:1200",)]
    [line] = full.lines
    assert (line.line_id, line.sku, line.quantity) == ("315", "WHISK-BAMBOO", 1), "-1 units of item 315"
    assert (line.restock, line.restock_type) == (True, m.RestockType.RETURN)
    assert full.tax is not None
    assert str(line.amount.shop.amount) == "24.00" and str(full.tax.shop.amount) == "4.56"
    assert str(full.total.shop.amount) == "28.56" and full.currency == "EUR"
    assert full.reason == "Beschädigt angekommen"
    assert summary.lines == [] and str(summary.total.shop.amount) == "4.90", "a summary entry: its total only"


def test_woocommerce_cancelled_order_is_a_status_change_and_a_cancellation() -> None:
    publication = OrderCapture(Topics()).interpret(woocommerce("woocommerce_order_updated_cancelled.json"))
    status, cancelled = events(publication)
    assert status.status is m.OrderStatus.CANCELLED
    assert keys(publication)[1] == ("woocommerce:shop.example.de:727:cancelled",)
    assert cancelled.restock is True and cancelled.cancelled_at == datetime(2025, 6, 4, 8, 0, tzinfo=UTC)


def bigcommerce_api(seen: list[str]) -> ApiClient:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path.endswith("/payment_actions/refunds"):
            return httpx.Response(200, content=_body("bigcommerce_refunds_250.json"))
        return httpx.Response(200, content=fixture("bigcommerce_order_250.json"))

    return ApiClient("bigcommerce", "https://api.bigcommerce.test", transport=httpx.MockTransport(answer))


def bigcommerce(name: str) -> Delivery:
    body = _body(name)
    return Delivery("bigcommerce", "/webhooks/bigcommerce", {}, body, parse_json_object(body), 0.0)


def test_bigcommerce_refund_webhook_fetches_the_refunds_and_the_order() -> None:
    seen: list[str] = []
    capture = OrderCapture(Topics(), bigcommerce_api(seen))
    publication = capture.interpret(bigcommerce("bigcommerce_refund_created.json"))
    [refund] = events(publication)
    assert seen == ["/stores/abc123/v2/orders/250", "/stores/abc123/v3/orders/250/payment_actions/refunds"]
    assert keys(publication) == [("bigcommerce:1025646:250:refund:3",)]
    [line] = refund.lines
    assert (line.line_id, line.sku, line.quantity) == ("1", "MATCHA-40G", 1)
    assert str(line.amount.shop.amount) == "20.50"
    assert (line.restock, line.restock_type) == (False, m.RestockType.UNKNOWN)
    assert refund.shipping is not None and str(refund.shipping.shop.amount) == "4.00"
    assert refund.total.shop == m.Money(amount=Decimal("24.5"), currency="GBP")
    assert refund.transactions[0].gateway == "braintree"


def test_bigcommerce_status_update_to_cancelled_needs_no_fetch() -> None:
    seen: list[str] = []
    publication = OrderCapture(Topics(), bigcommerce_api(seen)).interpret(
        bigcommerce("bigcommerce_order_status_updated.json"))
    [cancelled] = events(publication)
    assert seen == [] and keys(publication) == [("bigcommerce:1025646:250:cancelled",)]
    assert cancelled.cancelled_at == datetime.fromtimestamp(1749114000, UTC)


def test_a_reconciled_order_carries_its_refunds_and_cancellation_beside_its_placement() -> None:
    body = _body("shopify_orders_cancelled.json")
    delivery = Delivery("shopify", "/admin/api/2024-10/orders.json", {}, body, parse_json_object(body), 0.0,
                        channel=RECONCILIATION, tenant=SHOP)
    publication = OrderCapture(Topics()).interpret(delivery)
    assert keys(publication) == [(f"shopify:{SHOP}:reconciled:6120004415", f"{ORDER}:placed"),
                                 (f"{ORDER}:cancelled",), (f"{ORDER}:refund:509562980",)]


def test_an_amount_only_shopify_refund_totals_its_successful_refund_transactions() -> None:
    refund = json.loads(_body("shopify_refunds_create.json"))
    refund.update(refund_line_items=[], order_adjustments=[])
    refund["transactions"].append({**refund["transactions"][0], "id": 389404499, "status": "failure"})
    [event] = events(interpret(shopify("refunds/create", json.dumps(refund).encode())))
    assert event.lines == [] and event.tax is None and event.shipping is None
    assert event.total == usd("19.31"), "the successful transaction only"
    assert [t.status for t in event.transactions] == ["success", "failure"]


@pytest.mark.parametrize("status_id", [4, 14])
def test_bigcommerce_status_update_to_refunded_fetches_the_refunds(status_id: int) -> None:
    webhook = json.loads(_body("bigcommerce_order_status_updated.json"))
    webhook["data"]["status"]["new_status_id"] = status_id
    body = json.dumps(webhook).encode()
    seen: list[str] = []
    publication = OrderCapture(Topics(), bigcommerce_api(seen)).interpret(
        Delivery("bigcommerce", "/webhooks/bigcommerce", {}, body, parse_json_object(body), 0.0))
    assert keys(publication) == [("bigcommerce:1025646:250:refund:3",)]
    assert seen[-1].endswith("/v3/orders/250/payment_actions/refunds")


def test_an_unknown_restock_type_or_return_status_is_unknown_not_refused() -> None:
    refund = json.loads(_body("shopify_refunds_create.json"))
    refund["refund_line_items"][0]["restock_type"] = "store_credit_someday"
    [event] = events(interpret(shopify("refunds/create", json.dumps(refund).encode())))
    assert (event.lines[0].restock_type, event.lines[0].restock) == (m.RestockType.UNKNOWN, False)
    dispute = json.loads(_body("shopify_disputes_create.json"))
    dispute["status"] = "prearbitration"
    publication = interpret(shopify("disputes/update", json.dumps(dispute).encode()))
    assert keys(publication) == [(f"{ORDER}:dispute:598735659:UNKNOWN",)]
