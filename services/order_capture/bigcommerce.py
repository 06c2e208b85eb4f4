"""BigCommerce orders (v2 orders API, what a thin ``store/order/created`` webhook points to).

The webhook carries only ``{store_id, data: {id}, hash, producer}``; the order itself is fetched
from ``GET /stores/<store hash>/v2/orders/<id>`` (``producer`` names the store hash). Line items
may come inline or as a sub-resource link (``{"url": ..., "resource": "/orders/250/products"}``),
which is fetched too. The system on the bus is the webhook's ``store_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bus.contracts import models as m
from bus.webhooks.payload import mapping, required, text, utc
from services.order_capture import money as mn
from services.order_capture.orders import address, bus_id

PLATFORM = "bigcommerce"

FINANCIAL = {"Pending": "PENDING", "Awaiting Payment": "PENDING", "Awaiting Fulfillment": "PAID",
             "Awaiting Shipment": "PAID", "Awaiting Pickup": "PAID", "Partially Shipped": "PAID",
             "Shipped": "PAID", "Completed": "PAID", "Refunded": "REFUNDED",
             "Partially Refunded": "PARTIALLY_REFUNDED", "Cancelled": "VOIDED", "Declined": "VOIDED"}


def order_path(webhook: Mapping[str, Any]) -> str:
    """The API path of the order a webhook points to, e.g. ``/stores/abc123/v2/orders/250``."""
    data = required(webhook, "data", "the webhook")
    store = text(webhook.get("producer")) or f"stores/{required(webhook, 'store_id', 'the webhook')}"
    return f"/{store.strip('/')}/v2/orders/{required(data, 'id', 'the webhook data')}"


def products_path(webhook: Mapping[str, Any], order: Mapping[str, Any]) -> str | None:
    """The products sub-resource to fetch, when the order links to it instead of inlining it."""
    products = order.get("products")
    if isinstance(products, Mapping) and products.get("resource"):
        store = order_path(webhook).split("/v2/")[0]
        return f"{store}/v2/{str(products['resource']).lstrip('/')}"
    return None


def _address(data: Any) -> m.Address | None:
    return address(data, line1="street_1", line2="street_2", city="city", province="state",
                   postal_code="zip", country="country_iso2")


def _line(line: Mapping[str, Any], currency: str) -> m.OrderLine:
    price = line.get("price_ex_tax") if line.get("price_ex_tax") is not None else line.get("price_inc_tax")
    return m.OrderLine(line_id=str(required(line, "id", "a product line")), sku=text(line.get("sku")) or "",
                       title=text(line.get("name")) or "",
                       quantity=int(required(line, "quantity", "a product line")),
                       unit_price=mn.money_set(mn.money(price, currency, "line price")))


def order_placed(order: Mapping[str, Any], products: list[Mapping[str, Any]], store_id: str,
                 event_id: str) -> m.OrderPlaced:
    """The OrderPlaced of a BigCommerce v2 order and its product lines."""
    platform_id = required(order, "id", "the order")
    order_id = bus_id(PLATFORM, store_id, platform_id)
    currency = mn.currency(order.get("currency_code"), "currency_code")
    placed_at = utc(required(order, "date_created", "the order"), "date_created")
    billing = mapping(order.get("billing_address"))
    shipping = order.get("shipping_addresses")
    customer_id = order.get("customer_id")

    def total(field: str) -> m.MoneySet:
        return mn.money_set(mn.money(order.get(field) or "0", currency, field))

    meta = m.Meta(event_id=event_id, occurred_at=placed_at,
                  source=m.Source(platform=PLATFORM, system=store_id), correlation_id=order_id)
    return m.OrderPlaced(
        meta=meta, order_id=order_id, platform_order_id=str(platform_id), order_number=str(platform_id),
        placed_at=placed_at, currency=currency,
        financial_status=m.FinancialStatus(FINANCIAL.get(str(order.get("status")), "UNKNOWN")),
        customer=m.Customer(customer_id=text(customer_id) if customer_id else None,
                            email=text(billing.get("email")), first_name=text(billing.get("first_name")),
                            last_name=text(billing.get("last_name")), phone=text(billing.get("phone"))),
        lines=[_line(line, currency) for line in products],
        totals=m.OrderTotals(subtotal=total("subtotal_ex_tax"), tax=total("total_tax"),
                             discounts=total("discount_amount"), shipping=total("shipping_cost_inc_tax"),
                             total=total("total_inc_tax")),
        shipping_address=_address(shipping[0]) if isinstance(shipping, list) and shipping else None,
        billing_address=_address(billing))
