"""BigCommerce after the sale: ``store/order/statusUpdated`` and ``store/order/refund/created``.

Both webhooks are thin: ``{scope, store_id, data: {type: "order", id, status: {previous_status_id,
new_status_id}} | {..., refund: {refund_id}}, hash, created_at, producer}``. A status update to
Cancelled (status id 5) is an OrderCancelled at the webhook's ``created_at``; one to Refunded (4)
or Partially Refunded (14), and every ``refund/created``, fetch the order's refunds from the v3
API (``GET /stores/<hash>/v3/orders/<id>/payment_actions/refunds``: ``data[]`` of ``{id, created,
reason, total_amount, total_tax, payments[{id, provider_id, amount, is_declined}], items[{item_type
PRODUCT|SHIPPING|HANDLING|ORDER, item_id, quantity, requested_amount}]}``) and the order (its
``currency_code``, and its products for the SKUs), and publish an OrderRefunded per refund; the
refunds already published are skipped by their dedupe keys. BigCommerce's refund does not say
whether units were restocked: RestockType UNKNOWN, not restocked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bus.contracts import models as m
from bus.webhooks.payload import integer, mapping, objects, platform_id, quantity, text, utc
from services.order_capture import aftersale as a
from services.order_capture import bigcommerce
from services.order_capture import money as mn
from services.order_capture.orders import bus_id

PLATFORM = "bigcommerce"
CANCELLED, REFUNDED, PARTIALLY_REFUNDED = 5, 4, 14
REFUND_SCOPE, STATUS_SCOPE = "store/order/refund/created", "store/order/statusUpdated"


def new_status(webhook: Mapping[str, Any]) -> int:
    """``data.status.new_status_id`` of a status update.

    Raises:
        InvalidInput: missing or not an integer (names ``data.status.new_status_id``).
    """
    status = mapping(mapping(webhook.get("data"), "data").get("status"), "data.status")
    return integer(status.get("new_status_id"), "data.status.new_status_id", minimum=0, maximum=100)


def needs_refunds(webhook: Mapping[str, Any]) -> bool:
    """Whether the webhook means refunds to fetch (a refund, or a status now (partially) refunded)."""
    scope = webhook.get("scope")
    return scope == REFUND_SCOPE or (scope == STATUS_SCOPE and new_status(webhook) in (REFUNDED,
                                                                                       PARTIALLY_REFUNDED))


def refunds_path(webhook: Mapping[str, Any]) -> str:
    """``/stores/<hash>/v3/orders/<id>/payment_actions/refunds`` (from the checked order path)."""
    store, order = bigcommerce.order_path(webhook).split("/v2/orders/")
    return f"{store}/v3/orders/{order}/payment_actions/refunds"


def order_cancelled(webhook: Mapping[str, Any], store_id: str) -> m.OrderCancelled:
    """A status update to Cancelled (the stock returns: BigCommerce restocks cancelled orders)."""
    data = mapping(webhook.get("data"), "data")
    order_id = bus_id(PLATFORM, store_id, platform_id(data.get("id"), "data.id"))
    when = utc(webhook.get("created_at"), "created_at")
    key = a.cancelled_key(order_id)
    return m.OrderCancelled(meta=a.meta(key, order_id, when, PLATFORM, store_id), order_id=order_id,
                            cancelled_at=when, reason="cancelled on BigCommerce", restock=True)


def order_refunded(refund: Mapping[str, Any], order: Mapping[str, Any], products: list[Any],
                   store_id: str) -> m.OrderRefunded:
    """One v3 refund of ``order`` as an OrderRefunded (amounts in the order's ``currency_code``).

    Raises:
        InvalidInput: ``id``, ``created``, an amount or an item is missing or malformed (names it).
    """
    order_id = bus_id(PLATFORM, store_id, platform_id(order.get("id"), "id"))
    currency = mn.currency(order.get("currency_code"), "currency_code")
    refund_id = str(platform_id(refund.get("id"), "data.id"))
    skus = {p.get("id"): text(p.get("sku"), "products.sku") for p in objects(products, "products")}
    lines, shipping = [], []
    for item in objects(refund.get("items"), "items"):
        amount = mn.money_set(mn.money(mn.or_zero(item.get("requested_amount")), currency,
                                       "items.requested_amount"))
        if item.get("item_type") == "PRODUCT":
            line = platform_id(item.get("item_id"), "items.item_id")
            lines.append(m.RefundLine(line_id=str(line), sku=skus.get(line),
                                      quantity=quantity(item.get("quantity"), "items.quantity"),
                                      amount=amount, restock=False, restock_type=m.RestockType.UNKNOWN))
        elif item.get("item_type") == "SHIPPING":
            shipping.append(amount)
    when = utc(refund.get("created"), "created")
    transactions = [m.PaymentTransaction(
        transaction_id=str(platform_id(p.get("id"), "payments.id")), kind="refund",
        gateway=text(p.get("provider_id"), "payments.provider_id"),
        status="declined" if p.get("is_declined") is True else "success",
        amount=mn.money(p.get("amount"), currency, "payments.amount"), processed_at=when)
        for p in objects(refund.get("payments"), "payments")]
    tax = refund.get("total_tax")
    key = a.refund_key(order_id, refund_id)
    return m.OrderRefunded(
        meta=a.meta(key, order_id, when, PLATFORM, store_id), order_id=order_id, refund_id=refund_id,
        refunded_at=when, currency=currency, lines=lines,
        shipping=a.total(shipping, currency) if shipping else None,
        tax=mn.money_set(mn.money(tax, currency, "total_tax")) if tax not in (None, "") else None,
        total=mn.money_set(mn.money(refund.get("total_amount"), currency, "total_amount")),
        transactions=transactions, reason=text(refund.get("reason"), "reason"))
