"""WooCommerce after the sale: an ``order.updated`` that is cancelled or carries refunds.

WooCommerce has no refund webhook: a refund saves the order, which sends ``order.updated`` with
the order's ``status`` (``refunded`` once fully refunded) and its ``refunds`` list. In the REST v3
order a ``refunds`` entry is a summary ``{"id", "reason", "total"}`` with ``total`` negative
(``"-10.00"``); a full refund object (``GET /wp-json/wc/v3/orders/<id>/refunds``: ``amount``,
``date_created_gmt``, ``line_items[]`` with negative ``quantity``/``subtotal``/``total_tax``, the
order line in ``meta_data`` ``_refunded_item_id``, ``shipping_lines[]``, ``api_restock``) is read
the same way when an entry carries one. Negative quantities and amounts are normalised to the
positive units and money refunded; the digits are kept.

Every ``order.updated`` repeats every refund so far and the cancellation: the dedupe keys
(``<order_id>:refund:<id>``, ``<order_id>:cancelled``) publish each once. A WooCommerce refund
does not say whether its units went back to stock unless ``api_restock`` is given (RETURN or
NO_RESTOCK); otherwise UNKNOWN, not restocked.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bus.contracts import models as m
from bus.errors import InvalidInput
from bus.webhooks.payload import integer, objects, platform_id, required, text, utc
from services.order_capture import aftersale as a
from services.order_capture import money as mn
from services.order_capture.orders import bus_id

PLATFORM = "woocommerce"


def refunds_path(order_ref: str) -> str:
    """``/wp-json/wc/v3/orders/<id>/refunds`` (``order_ref`` is a checked integer id)."""
    return f"/wp-json/wc/v3/orders/{int(order_ref)}/refunds"


def _units(value: Any, what: str) -> int:
    """A refund line's quantity (WooCommerce sends ``-1``) as the positive units refunded."""
    found = abs(integer(value, what, minimum=-(2**31 - 1), maximum=2**31 - 1))
    if found == 0:
        raise InvalidInput(f"{what} is zero, expected units refunded", field=what)
    return found


def _refunded_item(line: Mapping[str, Any]) -> str | None:
    for meta in objects(line.get("meta_data"), "line_items.meta_data"):
        if meta.get("key") == "_refunded_item_id" and meta.get("value") not in (None, ""):
            return str(meta["value"])
    return None


def _money(value: Any, currency: str, what: str) -> m.MoneySet:
    return mn.money_set(m.Money(amount=a.positive(mn.amount(mn.or_zero(value), what)), currency=currency))


def order_refunded(refund: Mapping[str, Any], order_ref: int, system: str, currency: str,
                   when: datetime) -> m.OrderRefunded:
    """One WooCommerce refund (an order's ``refunds`` entry or a full refund object).

    Raises:
        InvalidInput: ``id``, an amount or a line is missing or malformed (names it).
    """
    order_id = bus_id(PLATFORM, system, order_ref)
    refund_id = str(platform_id(refund.get("id"), "refunds.id"))
    restock = refund.get("api_restock")
    kind = (m.RestockType.UNKNOWN if not isinstance(restock, bool)
            else m.RestockType.RETURN if restock else m.RestockType.NO_RESTOCK)
    items = objects(refund.get("line_items"), "refunds.line_items")
    lines = [m.RefundLine(line_id=_refunded_item(line) or str(platform_id(line.get("id"), "line_items.id")),
                          sku=text(line.get("sku"), "line_items.sku"),
                          quantity=_units(line.get("quantity"), "line_items.quantity"),
                          amount=_money(line.get("total") if line.get("total") not in (None, "")
                                        else line.get("subtotal"), currency, "line_items.total"),
                          restock=kind in a.RESTOCKING, restock_type=kind)
             for line in items]
    tax = [_money(line.get("total_tax"), currency, "line_items.total_tax") for line in items]
    shipping = [_money(s.get("total"), currency, "shipping_lines.total")
                for s in objects(refund.get("shipping_lines"), "refunds.shipping_lines")]
    amount = refund.get("amount") if refund.get("amount") not in (None, "") else refund.get("total")
    whole = _money(required({"amount": amount}, "amount", "the refund"), currency, "refunds.total")
    created = refund.get("date_created_gmt")
    at = utc(created, "refunds.date_created_gmt") if created else when
    key = a.refund_key(order_id, refund_id)
    return m.OrderRefunded(
        meta=a.meta(key, order_id, at, PLATFORM, system), order_id=order_id, refund_id=refund_id,
        refunded_at=at, currency=currency, lines=lines,
        shipping=a.total(shipping, currency) if shipping else None,
        tax=a.total(tax, currency) if tax else None, total=whole,
        reason=text(refund.get("reason"), "refunds.reason"))


def after_sale(order: Mapping[str, Any], system: str) -> list[a.AfterSaleEvent]:
    """What an ``order.updated`` says after the sale: an OrderCancelled when its status is
    ``cancelled``, and an OrderRefunded per ``refunds`` entry (whatever the status: partial refunds
    leave it ``processing``). Times default to ``date_modified_gmt``.

    Raises:
        InvalidInput: ``id``, ``currency``, ``date_modified_gmt`` or a refund is malformed.
    """
    order_ref = platform_id(order.get("id"), "id")
    order_id = bus_id(PLATFORM, system, order_ref)
    when = utc(required(order, "date_modified_gmt", "the order"), "date_modified_gmt")
    currency = mn.currency(order.get("currency"))
    events: list[a.AfterSaleEvent] = []
    if order.get("status") == "cancelled":
        key = a.cancelled_key(order_id)
        events.append(m.OrderCancelled(meta=a.meta(key, order_id, when, PLATFORM, system), order_id=order_id,
                                       cancelled_at=when, reason=None, restock=True))
    events += [order_refunded(r, order_ref, system, currency, when)
               for r in objects(order.get("refunds"), "refunds")]
    return events

