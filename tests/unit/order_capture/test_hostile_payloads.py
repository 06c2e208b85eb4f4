"""Storefront payloads with fields of the wrong type or out of range: each is InvalidInput naming
the field and the type expected, never quoting the value, and never a truncated or coerced event.

The mappers are called directly on mutated copies of the fixtures (the mapping is a consumer
stage's work, where InvalidInput dead-letters the delivery), not through HTTP.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from bus.contracts import models as m
from bus.errors import InvalidInput
from bus.webhooks.body import parse_json_object
from services.order_capture import bigcommerce, shopify, woocommerce
from simulators import fixture

SHOP, SITE, STORE = "hanako-tea.myshopify.com", "shop.example.de", "1025646"
SECRET = "Hanako Sato"
"""A value that must never appear in an error message."""


def _shopify(order: dict[str, Any]) -> m.OrderPlaced:
    return shopify.order_placed(order, SHOP, "e")


def _woocommerce(order: dict[str, Any]) -> m.OrderPlaced:
    return woocommerce.order_placed(order, SITE, "e")


def _bigcommerce(order: dict[str, Any]) -> m.OrderPlaced:
    return bigcommerce.order_placed(order, order.get("products"), STORE, "e")  # type: ignore[arg-type]


PLATFORMS: dict[str, tuple[str, Callable[[dict[str, Any]], m.OrderPlaced], str, str]] = {
    # name: (fixture, mapper, the lines' field, the creation time's field)
    "shopify": ("shopify_orders_create.json", _shopify, "line_items", "created_at"),
    "woocommerce": ("woocommerce_order_created.json", _woocommerce, "line_items", "date_created_gmt"),
    "bigcommerce": ("bigcommerce_order_250.json", _bigcommerce, "products", "date_created"),
}


def _order(platform: str) -> dict[str, Any]:
    return copy.deepcopy(parse_json_object(fixture(PLATFORMS[platform][0])))


def _refused(platform: str, order: dict[str, Any], field: str, expected: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as refused:
        PLATFORMS[platform][1](order)
    assert refused.value.field == field, str(refused.value)
    assert field in str(refused.value) and expected in str(refused.value), str(refused.value)
    assert SECRET not in str(refused.value) and "Hanako" not in str(refused.value)
    return refused.value


def test_the_fixtures_map() -> None:
    for platform in PLATFORMS:
        assert PLATFORMS[platform][1](_order(platform)).lines


NOT_IDS = [{"id": SECRET}, [SECRET], True, False, Decimal("6120004415.5"), 10**40, 2**63, -1, 0,
           "6120004415", SECRET]


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("value", NOT_IDS, ids=repr)
def test_an_order_id_is_a_positive_64_bit_integer(platform: str, value: Any) -> None:
    order = _order(platform)
    order["id"] = value
    _refused(platform, order, "id", "integer from 1 to 9223372036854775807")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_largest_64_bit_id_is_an_id(platform: str) -> None:
    order = _order(platform)
    order["id"] = 2**63 - 1
    assert PLATFORMS[platform][1](order).platform_order_id == "9223372036854775807"


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("value", NOT_IDS, ids=repr)
def test_a_line_id_is_a_positive_64_bit_integer(platform: str, value: Any) -> None:
    order = _order(platform)
    lines = PLATFORMS[platform][2]
    order[lines][0]["id"] = value
    _refused(platform, order, f"{lines}.id", "integer")


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("value", [Decimal("1.5"), Decimal("2.0"), -3, 0, True, "2", 2**31, {"n": 2}, None],
                         ids=repr)
def test_a_quantity_is_a_positive_integer_never_truncated(platform: str, value: Any) -> None:
    order = _order(platform)
    lines = PLATFORMS[platform][2]
    order[lines][0]["quantity"] = value
    error = _refused(platform, order, f"{lines}.quantity", "missing" if value is None else "integer from 1")
    assert "1.5" not in str(error) and "2147483648" not in str(error)


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("value", [5, SECRET, {"sku": "MATCHA-40G"}], ids=repr)
def test_lines_are_an_array_of_objects(platform: str, value: Any) -> None:
    order = _order(platform)
    lines = PLATFORMS[platform][2]
    order[lines] = value
    _refused(platform, order, lines, "expected an array")
    order[lines] = [SECRET]
    _refused(platform, order, f"an element of {lines}", "expected an object")


@pytest.mark.parametrize("value", [SECRET, [SECRET], 7311002, True])
def test_a_shopify_customer_is_an_object_when_present(value: Any) -> None:
    order = _order("shopify")
    order["customer"] = value
    _refused("shopify", order, "customer", "expected an object")
    with pytest.raises(InvalidInput, match="customer is a JSON"):
        shopify.profile_details(order)
    order["customer"] = None
    assert _shopify(order).customer.customer_id is None, "a guest order has no customer"


@pytest.mark.parametrize("platform,field", [("shopify", "customer.id"), ("woocommerce", "customer_id"),
                                            ("bigcommerce", "customer_id")])
@pytest.mark.parametrize("value", [{"id": 1}, [1], True, Decimal("7.5"), 10**40, -5, SECRET])
def test_customer_ids_are_integers_and_0_is_a_guest(platform: str, field: str, value: Any) -> None:
    order = _order(platform)
    target, key = (order["customer"], "id") if field == "customer.id" else (order, field)
    target[key] = value
    _refused(platform, order, field, "integer")
    target[key] = 0
    assert PLATFORMS[platform][1](order).customer.customer_id is None


@pytest.mark.parametrize("platform,field", [("shopify", "shipping_address"), ("shopify", "billing_address"),
                                            ("woocommerce", "billing"), ("woocommerce", "shipping"),
                                            ("bigcommerce", "billing_address")])
def test_addresses_are_objects_when_present(platform: str, field: str) -> None:
    order = _order(platform)
    order[field] = f"{SECRET}, 1-2-3 Jingumae Shibuya"
    error = _refused(platform, order, field, "expected an object")
    assert "Jingumae" not in str(error)


@pytest.mark.parametrize("platform,field", [("shopify", "total_price"), ("woocommerce", "total"),
                                            ("bigcommerce", "total_inc_tax")])
@pytest.mark.parametrize("value,expected", [
    (True, "decimal amount"), (False, "decimal amount"), ([], "decimal amount"),
    ({"amount": "1"}, "decimal amount"), ("\uff11\uff17.\uff18\uff10", "decimal amount"),  # full-width
    ("1e5", "decimal amount"), ("1_000", "decimal amount"),
    (" 17.80 x", "decimal amount"), ("NaN", "decimal amount"), ("Infinity", "decimal amount"),
    ("1" * 40, "decimal amount"), (10**40, "too large"), (Decimal("1E+20"), "too large"),
    ("100000000000000", "too large"), ("0.00001", "decimal places"),
])
def test_amounts_are_decimals_within_the_contract(platform: str, field: str, value: Any,
                                                  expected: str) -> None:
    order = _order(platform)
    order[field] = value
    if platform == "shopify":
        order.pop("total_price_set", None)
    _refused(platform, order, field, expected)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_largest_amount_the_contract_holds_is_kept(platform: str) -> None:
    field = {"shopify": "total_price", "woocommerce": "total", "bigcommerce": "total_inc_tax"}[platform]
    order = _order(platform)
    order[field] = "99999999999999.9999"
    order.pop("total_price_set", None)
    assert PLATFORMS[platform][1](order).totals.total.shop.amount == Decimal("99999999999999.9999")


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("value", [10**20, -(10**20), 10**15, "9999-12-31T23:59:59-23:59",
                                   "0001-01-01T00:00:00+23:59", "Fri, 31 Dec 9999 23:59:59 -2359",
                                   True, Decimal("1748952000.5"),
                                   {"date": "2025-06-03"}, SECRET], ids=repr)
def test_a_creation_time_out_of_range_is_invalid_input_naming_the_field(platform: str, value: Any) -> None:
    order = _order(platform)
    field = PLATFORMS[platform][3]
    order[field] = value
    error = _refused(platform, order, field, "")
    assert "9999" not in str(error) and "23:59" not in str(error)


def test_a_woocommerce_line_subtotal_sum_beyond_the_contract_is_refused() -> None:
    order = _order("woocommerce")
    for line in order["line_items"]:
        line["subtotal"] = "99999999999999.0000"
    _refused("woocommerce", order, "line_items.subtotal", "too large")


@pytest.mark.parametrize("webhook,field", [
    ({"data": {"type": "order", "id": "../../v3/customers"}, "producer": "stores/abc123"}, "data.id"),
    ({"data": {"type": "order", "id": 250}, "producer": "stores/../../admin"}, "producer"),
    ({"data": {"type": "order", "id": 250}, "producer": {"hash": "abc123"}}, "producer"),
    ({"data": {"type": "order", "id": 250}, "store_id": "1/../2"}, "store_id"),
    ({"data": SECRET, "producer": "stores/abc123"}, "data"),
    ({"data": {"type": "order", "id": True}, "producer": "stores/abc123"}, "data.id"),
])
def test_nothing_but_an_id_and_a_store_hash_shapes_a_bigcommerce_api_path(webhook: dict[str, Any],
                                                                          field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        bigcommerce.order_path(webhook)
    assert refused.value.field == field
    thin = parse_json_object(fixture("bigcommerce_order_created.json"))
    assert bigcommerce.order_path(thin) == "/stores/abc123/v2/orders/250"
    assert bigcommerce.order_path({**thin, "producer": None}) == "/stores/1025646/v2/orders/250"


def test_a_bigcommerce_products_link_is_an_orders_products_resource() -> None:
    thin = parse_json_object(fixture("bigcommerce_order_created.json"))
    assert bigcommerce.products_path(thin, {"products": {"resource": "/orders/250/products"}}) == \
        "/stores/abc123/v2/orders/250/products"
    with pytest.raises(InvalidInput) as refused:
        bigcommerce.products_path(thin, {"products": {"resource": "/../../v3/customers"}})
    assert refused.value.field == "products.resource"
