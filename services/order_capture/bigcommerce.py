"""BigCommerce orders (v2 orders API, what a thin ``store/order/created`` webhook points to).

The webhook carries only ``{store_id, data: {id}, hash, producer}``; the order itself is fetched
from ``GET /stores/<store hash>/v2/orders/<id>`` (``producer`` names the store hash). Line items
may come inline or as a sub-resource link (``{"url": ..., "resource": "/orders/250/products"}``),
which is fetched too. The system on the bus is the webhook's ``store_id``.

Types are BigCommerce's (v2 ``Order`` and ``Order Product``): ids are positive integers,
``customer_id`` an integer (0 for a guest), a line's ``quantity`` a positive integer,
``billing_address`` an object, the store hash in ``producer`` letters and digits. Anything else is
:class:`~bus.errors.InvalidInput` naming the field, so nothing from a webhook shapes an API path
but an integer and a store hash.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bus.contracts import models as m
from bus.errors import InvalidInput
from bus.webhooks.payload import mapping, objects, optional_id, platform_id, quantity, required, text, utc
from services.order_capture import money as mn
from services.order_capture.orders import address, bus_id

PLATFORM = "bigcommerce"
_PRODUCER = re.compile(r"stores/[A-Za-z0-9]{1,64}", re.ASCII)
_PRODUCTS = re.compile(r"/?orders/[0-9]{1,19}/products", re.ASCII)

FINANCIAL = {"Pending": "PENDING", "Awaiting Payment": "PENDING", "Awaiting Fulfillment": "PAID",
             "Awaiting Shipment": "PAID", "Awaiting Pickup": "PAID", "Partially Shipped": "PAID",
             "Shipped": "PAID", "Completed": "PAID", "Refunded": "REFUNDED",
             "Partially Refunded": "PARTIALLY_REFUNDED", "Cancelled": "VOIDED", "Declined": "VOIDED"}


def order_path(webhook: Mapping[str, Any]) -> str:
    """The API path of the order a webhook points to, e.g. ``/stores/abc123/v2/orders/250``.

    Raises:
        InvalidInput: ``data`` is not an object, ``data.id`` not a positive integer, or
            ``producer`` not ``stores/<store hash>`` (nor ``store_id`` an integer without it).
    """
    data = mapping(required(webhook, "data", "the webhook"), "data")
    order_ref = platform_id(data.get("id"), "data.id")
    producer = text(webhook.get("producer"), "producer")
    if producer is None:
        store = f"stores/{_store_id(webhook)}"
    elif _PRODUCER.fullmatch(producer.strip("/")):
        store = producer.strip("/")
    else:
        raise InvalidInput("producer is not stores/<store hash> (letters and digits)", field="producer")
    return f"/{store}/v2/orders/{order_ref}"


def _store_id(webhook: Mapping[str, Any]) -> str:
    store_id = required(webhook, "store_id", "the webhook")
    digits = str(store_id) if isinstance(store_id, str | int) and not isinstance(store_id, bool) else ""
    if not digits.isascii() or not digits.isdigit() or len(digits) > 19:
        raise InvalidInput("store_id is not an integer (as a number or decimal text)", field="store_id")
    return digits


def products_path(webhook: Mapping[str, Any], order: Mapping[str, Any]) -> str | None:
    """The products sub-resource to fetch, when the order links to it instead of inlining it.

    Raises:
        InvalidInput: the link's ``resource`` is not ``/orders/<id>/products``.
    """
    products = order.get("products")
    if isinstance(products, Mapping) and products.get("resource"):
        resource = text(products["resource"], "products.resource") or ""
        if not _PRODUCTS.fullmatch(resource):
            raise InvalidInput("products.resource is not /orders/<id>/products", field="products.resource")
        store = order_path(webhook).split("/v2/")[0]
        return f"{store}/v2/{resource.lstrip('/')}"
    return None


def _address(data: Any, what: str) -> m.Address | None:
    return address(data, what, line1="street_1", line2="street_2", city="city", province="state",
                   postal_code="zip", country="country_iso2")


def _line(line: Mapping[str, Any], currency: str) -> m.OrderLine:
    price = line.get("price_ex_tax") if line.get("price_ex_tax") is not None else line.get("price_inc_tax")
    return m.OrderLine(line_id=str(platform_id(line.get("id"), "products.id")),
                       sku=text(line.get("sku"), "products.sku") or "",
                       title=text(line.get("name"), "products.name") or "",
                       quantity=quantity(line.get("quantity"), "products.quantity"),
                       unit_price=mn.money_set(mn.money(price, currency, "products.price_ex_tax")))


def order_placed(order: Mapping[str, Any], products: list[Mapping[str, Any]], store_id: str,
                 event_id: str) -> m.OrderPlaced:
    """The OrderPlaced of a BigCommerce v2 order and its product lines.

    Raises:
        InvalidInput: a required field is missing, or a field is not of the type BigCommerce
            documents (the message names the field and the type expected, never the value).
    """
    order_ref = platform_id(order.get("id"), "id")
    order_id = bus_id(PLATFORM, store_id, order_ref)
    currency = mn.currency(order.get("currency_code"), "currency_code")
    placed_at = utc(required(order, "date_created", "the order"), "date_created")
    billing = mapping(order.get("billing_address"), "billing_address")
    shipping = order.get("shipping_addresses")
    first_shipping = shipping[0] if isinstance(shipping, list) and shipping else None

    def total(field: str) -> m.MoneySet:
        return mn.money_set(mn.money(mn.or_zero(order.get(field)), currency, field))

    meta = m.Meta(event_id=event_id, occurred_at=placed_at,
                  source=m.Source(platform=PLATFORM, system=store_id), correlation_id=order_id)
    return m.OrderPlaced(
        meta=meta, order_id=order_id, platform_order_id=str(order_ref), order_number=str(order_ref),
        placed_at=placed_at, currency=currency,
        financial_status=m.FinancialStatus(FINANCIAL.get(str(order.get("status")), "UNKNOWN")),
        customer=m.Customer(customer_id=optional_id(order.get("customer_id"), "customer_id"),
                            email=text(billing.get("email"), "billing_address.email"),
                            first_name=text(billing.get("first_name"), "billing_address.first_name"),
                            last_name=text(billing.get("last_name"), "billing_address.last_name"),
                            phone=text(billing.get("phone"), "billing_address.phone")),
        lines=[_line(line, currency) for line in objects(products, "products")],
        totals=m.OrderTotals(subtotal=total("subtotal_ex_tax"), tax=total("total_tax"),
                             discounts=total("discount_amount"), shipping=total("shipping_cost_inc_tax"),
                             total=total("total_inc_tax")),
        shipping_address=_address(first_shipping, "shipping_addresses[0]"),
        billing_address=_address(billing, "billing_address"))
