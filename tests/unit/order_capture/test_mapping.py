"""Platform orders → canonical events: exact decimals, both currencies, Unicode as sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from bus.contracts import models as m
from bus.errors import InvalidInput
from bus.serde import AvroCodec
from bus.webhooks.body import parse_json_object
from services.order_capture import bigcommerce, money, shopify, woocommerce
from services.order_capture.orders import customer_upserted
from simulators import fixture
from tests.unit.serde.fake_registry import FakeRegistry

SHOP = "hanako-tea.myshopify.com"


def _json(name: str) -> dict[str, Any]:
    return parse_json_object(fixture(name))


def test_shopify_fixture_keeps_japanese_text_and_both_currencies() -> None:
    order = shopify.order_placed(_json("shopify_orders_create.json"), SHOP, "shopify:shop:evt-1")
    assert order.order_id == f"shopify:{SHOP}:6120004415"
    assert (order.platform_order_id, order.order_number) == ("6120004415", "#1042")
    assert order.placed_at == datetime(2025, 6, 3, 1, 12, 43, tzinfo=UTC)  # 10:12:43+09:00
    assert (order.currency, order.presentment_currency) == ("USD", "JPY")
    assert order.financial_status is m.FinancialStatus.PAID
    [line] = order.lines
    assert (line.sku, line.title, line.quantity) == ("MATCHA-40G", "抹茶 40g", 2)
    assert line.unit_price == m.MoneySet(shop=m.Money(amount=Decimal("17.80"), currency="USD"),
                                         presentment=m.Money(amount=Decimal("2650"), currency="JPY"))
    assert order.totals.total.shop.amount == Decimal("38.63")
    assert order.totals.shipping.presentment == m.Money(amount=Decimal("0"), currency="JPY")
    assert order.totals.subtotal.presentment is None, "no *_set sent: the presentment amount is unknown"
    address = order.shipping_address
    assert address is not None
    assert (address.line1, address.line2) == ("神宮前1丁目2\u22123", "青葉ビル５Ｆ")
    assert (address.city, address.province, address.postal_code) == ("渋谷区", "東京都", "150-0001")
    assert order.customer == m.Customer(customer_id="7311002", email="hanako.sato@example.jp",
                                        first_name="花子", last_name="佐藤", phone="+81-90-1234-5678")
    assert (order.meta.event_id, order.meta.correlation_id) == ("shopify:shop:evt-1", order.order_id)


def test_the_events_survive_avro_unchanged() -> None:
    raw = _json("shopify_orders_create.json")
    order = shopify.order_placed(raw, SHOP, "e")
    profile = customer_upserted(order, "e:customer", **shopify.profile_details(raw))
    assert profile is not None and profile.customer_key == "hanako.sato@example.jp"
    codec = AvroCodec(FakeRegistry().client())
    data = codec.encode("orders.placed.v1", order)
    assert m.OrderPlaced.from_avro(codec.decode("orders.placed.v1", data)) == order
    topic = "customers.profiles.v1"
    assert m.CustomerUpserted.from_avro(codec.decode(topic, codec.encode(topic, profile))) == profile


def test_woocommerce_fixture_line_prices_are_numbers_kept_exact() -> None:
    order = woocommerce.order_placed(_json("woocommerce_order_created.json"), "shop.example.de", "k")
    assert order.order_id == "woocommerce:shop.example.de:727"
    assert order.placed_at == datetime(2025, 6, 3, 12, 2, 11, tzinfo=UTC)
    assert [(ln.sku, ln.unit_price.shop.amount) for ln in order.lines] == [
        ("WHISK-BAMBOO", Decimal("24.0")), ("MATCHA-40G", Decimal("15.0"))]
    assert (order.totals.subtotal.shop.amount, order.totals.total.shop.amount) == (Decimal("39.00"),
                                                                                   Decimal("51.30"))
    assert (order.customer.first_name, order.customer.last_name) == ("Zoë", "Müller")
    assert order.shipping_address is not None and order.shipping_address.line1 == "Hauptstraße 5"
    assert order.shipping_address.line2 is None
    assert woocommerce.site("https://shop.example.de/") == "shop.example.de"
    with pytest.raises(InvalidInput, match="X-WC-Webhook-Source"):
        woocommerce.site(None)


def test_bigcommerce_order_from_the_api() -> None:
    webhook = _json("bigcommerce_order_created.json")
    assert bigcommerce.order_path(webhook) == "/stores/abc123/v2/orders/250"
    api_order = _json("bigcommerce_order_250.json")
    assert bigcommerce.products_path(webhook, api_order) is None
    order = bigcommerce.order_placed(api_order, api_order["products"], "1025646", "k")
    assert order.order_id == "bigcommerce:1025646:250"
    assert order.placed_at == datetime(2025, 6, 3, 12, 0, tzinfo=UTC)
    assert order.currency == "GBP"
    assert order.lines[0].unit_price.shop.amount == Decimal("24.0000")
    assert order.totals.total.shop.amount == Decimal("51.9900")
    assert order.customer.first_name == "Siobhán" and order.customer.last_name == "O'Neill"
    link = {"url": "https://x/v2/orders/250/products", "resource": "/orders/250/products"}
    linked = {**api_order, "products": link}
    assert bigcommerce.products_path(webhook, linked) == "/stores/abc123/v2/orders/250/products"


@pytest.mark.parametrize(("value", "code", "expected"), [
    ("12.345", "KWD", Decimal("12.345")), (2650, "JPY", Decimal("2650")), ("\u22121", "USD", None),
    ("1.23456", "USD", None), ("NaN", "USD", None), ("1e20", "USD", None), (1.5, "USD", None),
    ("10.00", "usd", None), ("10.00", "XYZ", None), (True, "USD", None),
])
def test_money_is_exact_and_iso_4217(value: Any, code: str, expected: Decimal | None) -> None:
    if expected is None:
        with pytest.raises(InvalidInput):
            money.money(value, code)
    else:
        assert money.money(value, code) == m.Money(amount=expected, currency=code)


def test_an_unknown_currency_in_an_order_is_malformed() -> None:
    raw = _json("shopify_orders_create.json")
    with pytest.raises(InvalidInput, match="ISO 4217"):
        shopify.order_placed({**raw, "presentment_currency": "YEN"}, SHOP, "e")
    with pytest.raises(InvalidInput, match="no created_at"):
        shopify.order_placed({k: v for k, v in raw.items() if k != "created_at"}, SHOP, "e")


def test_shopify_status_of_updates() -> None:
    assert shopify.status_of({"cancelled_at": "2025-06-04T09:00:00+09:00", "cancel_reason": "customer"}) == (
        m.OrderStatus.CANCELLED, "cancelled on Shopify (customer)")
    assert shopify.status_of({"fulfillment_status": "fulfilled"}) == (m.OrderStatus.SHIPPED,
                                                                      "fulfilled on Shopify")
    assert shopify.status_of({"note": "gift wrap"}) is None


def test_unicode_in_json_escapes_and_raw_bytes_maps_the_same() -> None:
    raw = fixture("shopify_orders_create.json")
    escaped = json.dumps(json.loads(raw)).encode()  # \\u-escaped, same content
    assert shopify.order_placed(parse_json_object(escaped), SHOP, "e") == \
        shopify.order_placed(parse_json_object(raw), SHOP, "e")


def test_money_refusals_name_the_field_never_the_value() -> None:
    with pytest.raises(InvalidInput) as refused:
        money.money("12,50 €", "EUR", "total_price")
    assert (refused.value.field, str(refused.value)) == (
        "total_price", "total_price is not a decimal amount, expected text such as 17.80")
    with pytest.raises(InvalidInput) as refused:
        money.currency("YEN", "presentment_currency")
    assert refused.value.field == "presentment_currency" and "YEN" not in str(refused.value)
