"""Shopify orders (webhook bodies and REST ``orders.json``) as OrderPlaced and CustomerUpserted.

A Shopify order carries the shop currency (``currency``) and the customer's one
(``presentment_currency``); ``*_set`` fields hold both amounts. Where a ``*_set`` is absent the
plain field is the shop amount and the presentment amount stays unknown (null).

Types are Shopify's (REST Admin API ``Order``): ids are positive 64-bit integers, a line's
``quantity`` a positive integer, ``customer`` and the addresses objects when present, amounts
decimal strings. Anything else is :class:`~bus.errors.InvalidInput` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bus.contracts import models as m
from bus.webhooks.payload import mapping, objects, optional_id, platform_id, quantity, required, text, utc
from services.order_capture import money as mn
from services.order_capture.orders import address, bus_id

PLATFORM = "shopify"

FINANCIAL = {"pending": "PENDING", "authorized": "AUTHORIZED", "partially_paid": "PARTIALLY_PAID",
             "paid": "PAID", "partially_refunded": "PARTIALLY_REFUNDED", "refunded": "REFUNDED",
             "voided": "VOIDED"}


def _address(data: Any, what: str) -> m.Address | None:
    return address(data, what, line1="address1", line2="address2", city="city", province="province",
                   postal_code="zip", country="country_code")


def _amount_set(order: Mapping[str, Any], plain: str, set_name: str, what: str) -> m.MoneySet:
    """The shop and presentment amounts of ``set_name``, else ``plain`` in the shop currency."""
    found = mapping(order.get(set_name), set_name)
    if found.get("shop_money") is not None:
        return _price_set(found, set_name)
    return mn.money_set(mn.money(mn.or_zero(order.get(plain)), order.get("currency"), what))


def _price_set(found: Mapping[str, Any], what: str) -> m.MoneySet:
    shop = mapping(required(found, "shop_money", what), f"{what}.shop_money")
    presentment = mapping(found.get("presentment_money"), f"{what}.presentment_money")
    return mn.money_set(
        mn.money(shop.get("amount"), shop.get("currency_code"), f"{what}.shop_money.amount"),
        mn.money(presentment.get("amount"), presentment.get("currency_code"),
                 f"{what}.presentment_money.amount") if presentment else None)


def _line(line: Mapping[str, Any], currency: str) -> m.OrderLine:
    price_set = mapping(line.get("price_set"), "line_items.price_set")
    if price_set.get("shop_money") is not None:
        unit_price = _price_set(price_set, "line_items.price_set")
    else:
        price = required(line, "price", "a line item")
        unit_price = mn.money_set(mn.money(price, currency, "line_items.price"))
    return m.OrderLine(line_id=str(platform_id(line.get("id"), "line_items.id")),
                       sku=text(line.get("sku"), "line_items.sku") or "",
                       title=text(line.get("title"), "line_items.title")
                       or text(line.get("name"), "line_items.name") or "",
                       quantity=quantity(line.get("quantity"), "line_items.quantity"), unit_price=unit_price)


def order_placed(order: Mapping[str, Any], shop: str, event_id: str) -> m.OrderPlaced:
    """The OrderPlaced of a Shopify order from ``shop``.

    Raises:
        InvalidInput: a required field is missing, or a field is not of the type Shopify documents
            (the message names the field and the type expected, never the value).
    """
    order_ref = platform_id(order.get("id"), "id")
    order_id = bus_id(PLATFORM, shop, order_ref)
    currency = mn.currency(order.get("currency"), "currency")
    presentment = order.get("presentment_currency")
    presentment = mn.currency(presentment, "presentment_currency") if presentment else None
    customer_json = mapping(order.get("customer"), "customer")
    placed_at = utc(required(order, "created_at", "the order"), "created_at")
    customer = m.Customer(customer_id=optional_id(customer_json.get("id"), "customer.id"),
                          email=text(order.get("email"), "email")
                          or text(customer_json.get("email"), "customer.email"),
                          first_name=text(customer_json.get("first_name"), "customer.first_name"),
                          last_name=text(customer_json.get("last_name"), "customer.last_name"),
                          phone=text(customer_json.get("phone"), "customer.phone")
                          or text(order.get("phone"), "phone"))
    totals = m.OrderTotals(
        subtotal=_amount_set(order, "subtotal_price", "subtotal_price_set", "subtotal_price"),
        tax=_amount_set(order, "total_tax", "total_tax_set", "total_tax"),
        discounts=_amount_set(order, "total_discounts", "total_discounts_set", "total_discounts"),
        shipping=_amount_set(order, "total_shipping_price", "total_shipping_price_set", "shipping"),
        total=_amount_set(order, "total_price", "total_price_set", "total_price"))
    meta = m.Meta(event_id=event_id, occurred_at=placed_at, source=m.Source(platform=PLATFORM, system=shop),
                  correlation_id=order_id)
    return m.OrderPlaced(
        meta=meta, order_id=order_id, platform_order_id=str(order_ref),
        order_number=text(order.get("name"), "name"), placed_at=placed_at, currency=currency,
        presentment_currency=presentment if presentment != currency else None,
        financial_status=m.FinancialStatus(FINANCIAL.get(str(order.get("financial_status")), "UNKNOWN")),
        customer=customer,
        lines=[_line(line, currency) for line in objects(order.get("line_items"), "line_items")],
        totals=totals, shipping_address=_address(order.get("shipping_address"), "shipping_address"),
        billing_address=_address(order.get("billing_address"), "billing_address"))


def profile_details(order: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :func:`~services.order_capture.orders.customer_upserted`.

    Raises:
        InvalidInput: ``customer`` or one of its objects is present but not an object.
    """
    customer = mapping(order.get("customer"), "customer")
    consent = mapping(customer.get("email_marketing_consent"), "customer.email_marketing_consent")
    marketing = customer.get("accepts_marketing")
    if consent.get("state"):
        marketing = consent.get("state") == "subscribed"
    return {"default_address": _address(customer.get("default_address"), "customer.default_address"),
            "accepts_marketing": marketing if isinstance(marketing, bool) else None,
            "locale": text(order.get("customer_locale"), "customer_locale")}


def status_of(order: Mapping[str, Any]) -> tuple[m.OrderStatus, str] | None:
    """The status an ``orders/updated`` or ``orders/cancelled`` body reports, if one we track."""
    if order.get("cancelled_at"):
        reason = text(order.get("cancel_reason"), "cancel_reason") or "no reason"
        return m.OrderStatus.CANCELLED, f"cancelled on Shopify ({reason})"
    if order.get("fulfillment_status") == "fulfilled":
        return m.OrderStatus.SHIPPED, "fulfilled on Shopify"
    return None
