"""Shopify after the sale: ``orders/cancelled``, ``refunds/create``, ``returns/*``, ``disputes/*``.

Payloads are Shopify's REST webhook bodies (API 2024-10 and later):

* ``refunds/create``: a ``Refund`` (``id``, ``order_id``, ``created_at``, ``processed_at``, ``note``,
  ``restock`` on old refunds, ``refund_line_items[]`` with ``line_item_id``, ``quantity``,
  ``restock_type``, ``location_id``, ``subtotal``/``subtotal_set``, ``total_tax``/``total_tax_set``
  and ``line_item.sku``, ``refund_shipping_lines[]`` with ``subtotal_amount_set`` and
  ``tax_amount_set``, ``order_adjustments[]`` (``kind`` ``shipping_refund`` or
  ``refund_discrepancy``, amounts negative), ``transactions[]``). The same objects are an order's
  ``refunds`` in ``orders/cancelled`` and in the admin API's order listing (reconciliation).
* ``orders/cancelled``: the order with ``cancelled_at``, ``cancel_reason`` and its ``refunds``.
* ``returns/request|approve|decline|cancel|close|reopen`` and ``returns/process`` (the units
  processed back at a location: RECEIVED): a ``Return`` (``id``, ``status``, ``order`` {``id``}
  or ``order_id``, ``return_line_items[]`` with ``quantity``, ``return_reason`` and
  ``fulfillment_line_item.line_item.id``). The topic decides the status.
* ``disputes/create|update``: a ``Dispute`` (``id``, ``order_id``, ``type``, ``amount``,
  ``currency``, ``reason``, ``status``, ``evidence_due_by``, ``initiated_at``).

Money keeps the digits Shopify sent (KWD ``"1.250"``, JPY ``"2650"``). A missing or malformed
field is :class:`~bus.errors.InvalidInput` naming it (a dispute without ``order_id``, which
Shopify sends for a dispute on no order, included): the intake dead-letters the delivery.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bus.contracts import models as m
from bus.errors import InvalidInput
from bus.webhooks.payload import mapping, objects, platform_id, quantity, required, text, utc
from services.order_capture import aftersale as a
from services.order_capture import money as mn
from services.order_capture.orders import bus_id

PLATFORM = "shopify"
RETURN_TOPICS = {"returns/request": m.ReturnStatus.REQUESTED, "returns/approve": m.ReturnStatus.OPEN,
                 "returns/reopen": m.ReturnStatus.OPEN, "returns/process": m.ReturnStatus.RECEIVED,
                 "returns/decline": m.ReturnStatus.DECLINED, "returns/cancel": m.ReturnStatus.CANCELLED,
                 "returns/close": m.ReturnStatus.CLOSED}
DISPUTE_STATUSES = {s.value.lower(): s for s in m.DisputeStatus}


def order_ref(payload: Mapping[str, Any], topic: str) -> int | None:
    """The Shopify order id an after-sale webhook is about (``order_id``, or a return's
    ``order.id``); None when the body names none (the intake then dead-letters it)."""
    if topic.startswith("returns/") and isinstance(payload.get("order"), Mapping):
        found = payload["order"].get("id")
    else:
        found = payload.get("order_id")
    return platform_id(found, "order_id") if found not in (None, "") else None


def _set(data: Mapping[str, Any], set_name: str, plain: str, currency: str | None,
         what: str) -> m.MoneySet:
    found = mapping(data.get(set_name), f"{what}.{set_name}")
    shop = mapping(found.get("shop_money"), f"{what}.{set_name}.shop_money")
    if shop:
        shown = mapping(found.get("presentment_money"), f"{what}.{set_name}.presentment_money")
        return mn.money_set(mn.money(shop.get("amount"), shop.get("currency_code"), f"{what}.{set_name}"),
                            mn.money(shown.get("amount"), shown.get("currency_code"),
                                     f"{what}.{set_name}.presentment_money") if shown else None)
    if currency is None:
        raise InvalidInput(f"{what} has no {set_name} and the refund names no currency", field=set_name)
    return mn.money_set(mn.money(mn.or_zero(data.get(plain)), currency, f"{what}.{plain}"))


def refund_currency(refund: Mapping[str, Any], order_currency: str | None = None) -> str:
    """The shop currency of a refund: the order's when known, else the first ``shop_money`` of its
    lines, shipping lines or adjustments, else its first transaction's currency.

    Raises:
        InvalidInput: none of them names one (``currency``).
    """
    if order_currency:
        return mn.currency(order_currency, "currency")
    for group, name in (("refund_line_items", "subtotal_set"), ("order_adjustments", "amount_set"),
                        ("refund_shipping_lines", "subtotal_amount_set")):
        for item in objects(refund.get(group), group):
            shop = mapping(mapping(item.get(name)).get("shop_money"))
            if shop.get("currency_code"):
                return mn.currency(shop["currency_code"], f"{group}.{name}.shop_money.currency_code")
    for transaction in objects(refund.get("transactions"), "transactions"):
        if transaction.get("currency"):
            return mn.currency(transaction["currency"], "transactions.currency")
    raise InvalidInput("the refund names no currency", field="currency")


def _line(item: Mapping[str, Any], currency: str, legacy_restock: bool | None) -> m.RefundLine:
    kind = a.restock_type(item.get("restock_type"), legacy_restock=legacy_restock)
    location = item.get("location_id")
    return m.RefundLine(
        line_id=str(platform_id(item.get("line_item_id"), "refund_line_items.line_item_id")),
        sku=text(mapping(item.get("line_item"), "refund_line_items.line_item").get("sku"),
                 "refund_line_items.line_item.sku"),
        quantity=quantity(item.get("quantity"), "refund_line_items.quantity"),
        amount=_set(item, "subtotal_set", "subtotal", currency, "refund_line_items"),
        restock=kind in a.RESTOCKING, restock_type=kind,
        location=str(platform_id(location, "refund_line_items.location_id")) if location else None)


def _adjustments(refund: Mapping[str, Any], kind: str, currency: str) -> list[m.MoneySet]:
    """Order adjustments of ``kind`` as positive amounts (Shopify sends them negative)."""
    found = []
    for adjustment in objects(refund.get("order_adjustments"), "order_adjustments"):
        if adjustment.get("kind") == kind:
            amount = _set(adjustment, "amount_set", "amount", currency, "order_adjustments")
            found.append(m.MoneySet(
                shop=m.Money(amount=a.positive(amount.shop.amount), currency=amount.shop.currency),
                presentment=None if amount.presentment is None else m.Money(
                    amount=a.positive(amount.presentment.amount), currency=amount.presentment.currency)))
    return found


def order_refunded(refund: Mapping[str, Any], shop: str, *, order_id_ref: int | None = None,
                   order_currency: str | None = None) -> m.OrderRefunded:
    """The OrderRefunded of a Shopify refund (a ``refunds/create`` body or an order's ``refunds[]``).

    The total is lines + their tax + shipping (``refund_shipping_lines``, else adjustments of kind
    ``shipping_refund``) + its tax + ``refund_discrepancy`` adjustments; when that is zero (an
    amount-only refund), the successful refund transactions in the shop currency.

    Raises:
        InvalidInput: a required field is missing or of the wrong type (names it).
    """
    order_ref_ = order_id_ref or platform_id(refund.get("order_id"), "order_id")
    order_id = bus_id(PLATFORM, shop, order_ref_)
    refund_id = str(platform_id(refund.get("id"), "id"))
    currency = refund_currency(refund, order_currency)
    items = objects(refund.get("refund_line_items"), "refund_line_items")
    legacy = refund.get("restock") if isinstance(refund.get("restock"), bool) else None
    lines = [_line(item, currency, legacy) for item in items]
    taxes = [_set(item, "total_tax_set", "total_tax", currency, "refund_line_items") for item in items]
    shipping_lines = objects(refund.get("refund_shipping_lines"), "refund_shipping_lines")
    shipping = ([_set(s, "subtotal_amount_set", "subtotal_amount", currency, "refund_shipping_lines")
                 for s in shipping_lines] or _adjustments(refund, "shipping_refund", currency))
    taxes += [_set(s, "tax_amount_set", "tax_amount", currency, "refund_shipping_lines")
              for s in shipping_lines]
    parts = [line.amount for line in lines] + taxes + shipping + _adjustments(refund, "refund_discrepancy",
                                                                             currency)
    whole = a.total(parts, currency)
    transactions = [_transaction(t) for t in objects(refund.get("transactions"), "transactions")
                    if t.get("kind") == "refund"]
    if whole.shop.amount == 0:
        paid = [t.amount.amount for t in transactions
                if t.status == "success" and t.amount.currency == currency]
        whole = a.total([mn.money_set(m.Money(amount=x, currency=currency)) for x in paid], currency) \
            if paid else whole
    when = utc(refund.get("processed_at") or required(refund, "created_at", "the refund"), "created_at")
    key = a.refund_key(order_id, refund_id)
    return m.OrderRefunded(
        meta=a.meta(key, order_id, when, PLATFORM, shop), order_id=order_id, refund_id=refund_id,
        refunded_at=when, currency=currency, lines=lines,
        shipping=a.total(shipping, currency) if shipping else None,
        tax=a.total(taxes, currency) if taxes else None, total=whole, transactions=transactions,
        reason=text(refund.get("note"), "note"))


def _transaction(t: Mapping[str, Any]) -> m.PaymentTransaction:
    processed = t.get("processed_at") or t.get("created_at")
    return m.PaymentTransaction(
        transaction_id=str(platform_id(t.get("id"), "transactions.id")),
        kind=str(required(t, "kind", "a transaction")),
        gateway=text(t.get("gateway"), "transactions.gateway"),
        status=text(t.get("status"), "transactions.status"),
        amount=mn.money(t.get("amount"), t.get("currency"), "transactions.amount"),
        processed_at=utc(processed, "transactions.processed_at") if processed else None)


def order_cancelled(order: Mapping[str, Any], shop: str) -> list[a.AfterSaleEvent]:
    """An ``orders/cancelled`` body: the OrderCancelled, then an OrderRefunded per listed refund.

    ``restock`` is whether any refunded line goes back to stock; true when no refund lists lines.

    Raises:
        InvalidInput: ``id``, ``cancelled_at`` or a refund is missing or malformed.
    """
    order_ref_ = platform_id(order.get("id"), "id")
    order_id = bus_id(PLATFORM, shop, order_ref_)
    when = utc(required(order, "cancelled_at", "the cancelled order"), "cancelled_at")
    currency = order.get("currency")
    refunds = [order_refunded(r, shop, order_id_ref=order_ref_, order_currency=currency)
               for r in objects(order.get("refunds"), "refunds")]
    kinds = [line.restock for refund in refunds for line in refund.lines]
    key = a.cancelled_key(order_id)
    cancelled = m.OrderCancelled(meta=a.meta(key, order_id, when, PLATFORM, shop), order_id=order_id,
                                 cancelled_at=when, reason=text(order.get("cancel_reason"), "cancel_reason"),
                                 restock=any(kinds) if kinds else True)
    return [cancelled, *refunds]


def return_updated(body: Mapping[str, Any], shop: str, topic: str, when: datetime) -> m.ReturnUpdated:
    """A ``returns/*`` body as the ReturnUpdated of the topic's status; ``when`` is when Shopify
    triggered it (``X-Shopify-Triggered-At``), the received time of a RECEIVED step.

    Raises:
        InvalidInput: ``id``, the order id or a line is missing or malformed.
    """
    status = RETURN_TOPICS[topic]
    ref = order_ref(body, topic)
    if ref is None:
        raise InvalidInput("the return names no order (order.id)", field="order.id")
    order_id, return_id = bus_id(PLATFORM, shop, ref), str(platform_id(body.get("id"), "id"))
    lines = [m.ReturnLine(line_id=_return_line_id(item), sku=None,
                          quantity=quantity(item.get("quantity"), "return_line_items.quantity"),
                          reason=text(item.get("return_reason"), "return_line_items.return_reason"))
             for item in objects(body.get("return_line_items"), "return_line_items")]
    key = a.return_key(order_id, return_id, status)
    return m.ReturnUpdated(meta=a.meta(key, order_id, when, PLATFORM, shop), order_id=order_id,
                           return_id=return_id, status=status, lines=lines,
                           requested_at=when if status is m.ReturnStatus.REQUESTED else None,
                           received_at=when if status is m.ReturnStatus.RECEIVED else None)


def _return_line_id(item: Mapping[str, Any]) -> str | None:
    fulfilled = mapping(item.get("fulfillment_line_item"), "return_line_items.fulfillment_line_item")
    line = mapping(fulfilled.get("line_item"), "return_line_items.fulfillment_line_item.line_item")
    found = line.get("id")
    return str(platform_id(found, "return_line_items.fulfillment_line_item.line_item.id")) if found else None


def dispute_updated(body: Mapping[str, Any], shop: str, when: datetime) -> m.DisputeUpdated:
    """A ``disputes/create|update`` body as a DisputeUpdated.

    Raises:
        InvalidInput: no ``order_id`` (a dispute on no order), or ``id``, ``amount``, ``currency``
            missing or malformed.
    """
    ref = order_ref(body, "disputes/")
    if ref is None:
        raise InvalidInput("the dispute names no order (order_id)", field="order_id")
    order_id, dispute_id = bus_id(PLATFORM, shop, ref), str(platform_id(body.get("id"), "id"))
    status = DISPUTE_STATUSES.get(str(body.get("status")), m.DisputeStatus.UNKNOWN)
    due = body.get("evidence_due_by")
    key = a.dispute_key(order_id, dispute_id, status)
    return m.DisputeUpdated(
        meta=a.meta(key, order_id, when, PLATFORM, shop),
        order_id=order_id, dispute_id=dispute_id, kind=text(body.get("type"), "type") or "chargeback",
        status=status,
        amount=mn.money(required(body, "amount", "the dispute"), body.get("currency"), "amount"),
        reason=text(body.get("reason"), "reason"),
        evidence_due_by=utc(due, "evidence_due_by") if due else None)

