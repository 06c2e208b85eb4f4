"""WooCommerce orders (REST v3 shape) as OrderPlaced.

Totals are strings, a line's ``price`` is a JSON number (already an exact Decimal here), dates
come site-local and ``*_gmt``; the ``*_gmt`` ones are used. A WooCommerce store has one
currency, so there is no presentment amount. The system on the bus is the store's host name
from ``X-WC-Webhook-Source``.

Types are WooCommerce's (REST API v3 order): ``id``, ``customer_id`` (0 for a guest) and line ids
are integers, a line's ``quantity`` a positive integer, ``billing`` and ``shipping`` objects.
Anything else is :class:`~bus.errors.InvalidInput` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from bus.contracts import models as m
from bus.errors import InvalidInput
from bus.webhooks.payload import mapping, objects, optional_id, platform_id, quantity, required, text, utc
from services.order_capture import money as mn
from services.order_capture.orders import address, bus_id

PLATFORM = "woocommerce"

FINANCIAL = {"pending": "PENDING", "on-hold": "PENDING", "processing": "PAID", "completed": "PAID",
             "refunded": "REFUNDED", "cancelled": "VOIDED"}
STATUSES = {"cancelled": (m.OrderStatus.CANCELLED, "cancelled on WooCommerce"),
            "completed": (m.OrderStatus.SHIPPED, "completed on WooCommerce")}


def site(source: str | None) -> str:
    """``https://shop.example.de/`` → ``shop.example.de`` (the system on the bus)."""
    host = urlsplit(source or "").hostname
    if not host:
        raise InvalidInput("X-WC-Webhook-Source is missing or not a URL", field="X-WC-Webhook-Source")
    return host


def _address(data: Any, what: str) -> m.Address | None:
    return address(data, what, line1="address_1", line2="address_2", city="city", province="state",
                   postal_code="postcode", country="country")


def order_placed(order: Mapping[str, Any], system: str, event_id: str) -> m.OrderPlaced:
    """The OrderPlaced of a WooCommerce order from the store ``system``.

    Raises:
        InvalidInput: a required field is missing, or a field is not of the type WooCommerce
            documents (the message names the field and the type expected, never the value).
    """
    order_ref = platform_id(order.get("id"), "id")
    order_id = bus_id(PLATFORM, system, order_ref)
    currency = mn.currency(order.get("currency"))
    placed_at = utc(required(order, "date_created_gmt", "the order"), "date_created_gmt")
    billing = mapping(order.get("billing"), "billing")
    items = objects(order.get("line_items"), "line_items")
    lines = [m.OrderLine(line_id=str(platform_id(line.get("id"), "line_items.id")),
                         sku=text(line.get("sku"), "line_items.sku") or "",
                         title=text(line.get("name"), "line_items.name") or "",
                         quantity=quantity(line.get("quantity"), "line_items.quantity"),
                         unit_price=mn.money_set(mn.money(line.get("price"), currency, "line_items.price")))
             for line in items]
    subtotal = mn.amount(sum((mn.amount(mn.or_zero(line.get("subtotal")), "line_items.subtotal")
                              for line in items), Decimal(0)), "line_items.subtotal")

    def total(field: str) -> m.MoneySet:
        return mn.money_set(mn.money(mn.or_zero(order.get(field)), currency, field))

    customer = m.Customer(customer_id=optional_id(order.get("customer_id"), "customer_id"),
                          email=text(billing.get("email"), "billing.email"),
                          first_name=text(billing.get("first_name"), "billing.first_name"),
                          last_name=text(billing.get("last_name"), "billing.last_name"),
                          phone=text(billing.get("phone"), "billing.phone"))
    meta = m.Meta(event_id=event_id, occurred_at=placed_at,
                  source=m.Source(platform=PLATFORM, system=system), correlation_id=order_id)
    return m.OrderPlaced(
        meta=meta, order_id=order_id, platform_order_id=str(order_ref),
        order_number=text(order.get("number"), "number"), placed_at=placed_at, currency=currency,
        financial_status=m.FinancialStatus(FINANCIAL.get(str(order.get("status")), "UNKNOWN")),
        customer=customer, lines=lines,
        totals=m.OrderTotals(subtotal=mn.money_set(m.Money(amount=subtotal, currency=currency)),
                             tax=total("total_tax"), discounts=total("discount_total"),
                             shipping=total("shipping_total"), total=total("total")),
        shipping_address=_address(order.get("shipping"), "shipping"),
        billing_address=_address(billing, "billing"))


def billing_address(order: Mapping[str, Any]) -> m.Address | None:
    """The billing address, the customer's default address as WooCommerce knows it."""
    return _address(order.get("billing"), "billing")
