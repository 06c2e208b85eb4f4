"""Shopify orders (webhook bodies and REST ``orders.json``) as OrderPlaced and CustomerUpserted.

A Shopify order carries the shop currency (``currency``) and the customer's one
(``presentment_currency``); ``*_set`` fields hold both amounts. Where a ``*_set`` is absent the
plain field is the shop amount and the presentment amount stays unknown (null).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bus.contracts import models as m
from bus.webhooks.payload import mapping, required, text, utc
from services.order_capture import money as mn
from services.order_capture.orders import address, bus_id

PLATFORM = "shopify"

FINANCIAL = {"pending": "PENDING", "authorized": "AUTHORIZED", "partially_paid": "PARTIALLY_PAID",
             "paid": "PAID", "partially_refunded": "PARTIALLY_REFUNDED", "refunded": "REFUNDED",
             "voided": "VOIDED"}


def _address(data: Any) -> m.Address | None:
    return address(data, line1="address1", line2="address2", city="city", province="province",
                   postal_code="zip", country="country_code")


def _amount_set(order: Mapping[str, Any], plain: str, set_name: str, what: str) -> m.MoneySet:
    """The shop and presentment amounts of ``set_name``, else ``plain`` in the shop currency."""
    found = order.get(set_name)
    if isinstance(found, Mapping) and isinstance(found.get("shop_money"), Mapping):
        return _price_set(found, what)
    return mn.money_set(mn.money(order.get(plain) or "0", order.get("currency"), what))


def _price_set(found: Mapping[str, Any], what: str) -> m.MoneySet:
    shop = found["shop_money"]
    presentment = found.get("presentment_money")
    return mn.money_set(
        mn.money(shop.get("amount"), shop.get("currency_code"), what),
        mn.money(presentment.get("amount"), presentment.get("currency_code"), f"{what} (presentment)")
        if isinstance(presentment, Mapping) else None)


def _line(line: Mapping[str, Any], currency: str) -> m.OrderLine:
    price_set = line.get("price_set")
    if isinstance(price_set, Mapping) and isinstance(price_set.get("shop_money"), Mapping):
        unit_price = _price_set(price_set, "line price")
    else:
        unit_price = mn.money_set(mn.money(required(line, "price", "a line item"), currency, "line price"))
    return m.OrderLine(line_id=str(required(line, "id", "a line item")), sku=text(line.get("sku")) or "",
                       title=text(line.get("title")) or text(line.get("name")) or "",
                       quantity=int(required(line, "quantity", "a line item")), unit_price=unit_price)


def order_placed(order: Mapping[str, Any], shop: str, event_id: str) -> m.OrderPlaced:
    """The OrderPlaced of a Shopify order from ``shop``.

    Raises:
        InvalidInput: a required field is missing or a currency/amount is invalid.
    """
    platform_id = required(order, "id", "the order")
    order_id = bus_id(PLATFORM, shop, platform_id)
    currency = mn.currency(order.get("currency"), "currency")
    presentment = order.get("presentment_currency")
    presentment = mn.currency(presentment, "presentment_currency") if presentment else None
    customer_json = mapping(order.get("customer"))
    placed_at = utc(required(order, "created_at", "the order"), "created_at")
    customer = m.Customer(customer_id=text(customer_json.get("id")),
                          email=text(order.get("email")) or text(customer_json.get("email")),
                          first_name=text(customer_json.get("first_name")),
                          last_name=text(customer_json.get("last_name")),
                          phone=text(customer_json.get("phone")) or text(order.get("phone")))
    totals = m.OrderTotals(
        subtotal=_amount_set(order, "subtotal_price", "subtotal_price_set", "subtotal_price"),
        tax=_amount_set(order, "total_tax", "total_tax_set", "total_tax"),
        discounts=_amount_set(order, "total_discounts", "total_discounts_set", "total_discounts"),
        shipping=_amount_set(order, "total_shipping_price", "total_shipping_price_set", "shipping"),
        total=_amount_set(order, "total_price", "total_price_set", "total_price"))
    meta = m.Meta(event_id=event_id, occurred_at=placed_at, source=m.Source(platform=PLATFORM, system=shop),
                  correlation_id=order_id)
    return m.OrderPlaced(
        meta=meta, order_id=order_id, platform_order_id=str(platform_id),
        order_number=text(order.get("name")), placed_at=placed_at, currency=currency,
        presentment_currency=presentment if presentment != currency else None,
        financial_status=m.FinancialStatus(FINANCIAL.get(str(order.get("financial_status")), "UNKNOWN")),
        customer=customer, lines=[_line(line, currency) for line in order.get("line_items") or []],
        totals=totals, shipping_address=_address(order.get("shipping_address")),
        billing_address=_address(order.get("billing_address")))


def profile_details(order: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :func:`~services.order_capture.orders.customer_upserted`."""
    customer = mapping(order.get("customer"))
    consent = customer.get("email_marketing_consent")
    marketing = customer.get("accepts_marketing")
    if isinstance(consent, Mapping) and consent.get("state"):
        marketing = consent.get("state") == "subscribed"
    return {"default_address": _address(customer.get("default_address")),
            "accepts_marketing": marketing if isinstance(marketing, bool) else None,
            "locale": text(order.get("customer_locale"))}


def status_of(order: Mapping[str, Any]) -> tuple[m.OrderStatus, str] | None:
    """The status an ``orders/updated`` or ``orders/cancelled`` body reports, if one we track."""
    if order.get("cancelled_at"):
        return m.OrderStatus.CANCELLED, f"cancelled on Shopify ({order.get('cancel_reason') or 'no reason'})"
    if order.get("fulfillment_status") == "fulfilled":
        return m.OrderStatus.SHIPPED, "fulfilled on Shopify"
    return None
