"""What happens to a stored order after the sale, and the platform's payload that tells of it.

Each function changes the stored order as the platform would (``updated_at`` or
``date_modified_gmt`` moves, so reconciliation lists it again) and returns the webhook body the
platform sends, in its documented shape:

* Shopify: ``orders/cancelled`` (the order with ``cancelled_at``, ``cancel_reason``, its
  ``refunds``), ``refunds/create`` (a Refund, also appended to the order's ``refunds``, which the
  admin API lists), ``returns/<step>`` (a Return with ``order.id`` and its lines),
  ``disputes/create|update`` (a Dispute).
* WooCommerce: ``order.updated`` (the order, status ``cancelled``, or with a new ``refunds``
  summary entry ``{"id", "reason", "total": "-x"}``; status ``refunded`` once all is refunded).
* BigCommerce: the refund stored for ``GET /v3/orders/<id>/payment_actions/refunds`` (the webhook
  itself is thin: :meth:`~simulators.storefront.webhooks.WebhookSender.bigcommerce`).

Amounts are computed with Decimal and rounded to the currency's minor units (KWD three, JPY none).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from simulators.storefront.orders import TAX_RATE, quantize

SHOPIFY_RESTOCK = {"no_restock", "cancel", "return"}
RETURN_STATUS = {
    "request": "requested",
    "approve": "open",
    "decline": "declined",
    "cancel": "canceled",
    "close": "closed",
    "reopen": "open",
    "process": "open",
}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _set(shop: Decimal, shop_currency: str, shown: Decimal, shown_currency: str) -> dict[str, Any]:
    return {
        "shop_money": {"amount": str(shop), "currency_code": shop_currency},
        "presentment_money": {"amount": str(shown), "currency_code": shown_currency},
    }


def _line(order: dict[str, Any], ask: dict[str, Any]) -> dict[str, Any]:
    """The order line a request names by ``line_item_id`` or ``sku``."""
    for line in order.get("line_items") or []:
        if line.get("id") == ask.get("line_item_id") or (
            ask.get("sku") and line.get("sku") == ask.get("sku")
        ):
            return line
    raise ValueError(f"the order has no line {ask.get('line_item_id') or ask.get('sku')}")


def shopify_refund(
    order: dict[str, Any],
    refund_id: int,
    lines: list[dict[str, Any]],
    *,
    shipping: str | None = None,
    note: str | None = None,
    restock_type: str = "return",
    gateway: str = "shopify_payments",
) -> dict[str, Any]:
    """Refund ``lines`` (``{"line_item_id" | "sku", "quantity", "restock_type"}``) and ``shipping``
    (an amount in the shop currency) of a Shopify order; the Refund is appended to the order."""
    shop_currency = order["currency"]
    shown_currency = order.get("presentment_currency") or shop_currency
    at, items, total = now(), [], Decimal(0)
    for i, ask in enumerate(lines):
        line = _line(order, ask)
        quantity = int(ask.get("quantity", 1))
        unit = Decimal(line["price"])
        shown_unit = Decimal(
            line.get("price_set", {}).get("presentment_money", {}).get("amount", line["price"])
        )
        subtotal = quantize(unit * quantity, shop_currency)
        tax = quantize(subtotal * TAX_RATE, shop_currency)
        kind = ask.get("restock_type", restock_type)
        if kind not in SHOPIFY_RESTOCK:
            raise ValueError(f"restock_type one of {sorted(SHOPIFY_RESTOCK)}")
        items.append(
            {
                "id": refund_id * 10 + i,
                "quantity": quantity,
                "line_item_id": line["id"],
                "location_id": 655441491 if kind != "no_restock" else None,
                "restock_type": kind,
                "subtotal": str(subtotal),
                "total_tax": str(tax),
                "subtotal_set": _set(
                    subtotal, shop_currency, quantize(shown_unit * quantity, shown_currency), shown_currency
                ),
                "total_tax_set": _set(
                    tax,
                    shop_currency,
                    quantize(shown_unit * quantity * TAX_RATE, shown_currency),
                    shown_currency,
                ),
                "line_item": {k: line.get(k) for k in ("id", "sku", "title", "quantity", "price")},
            }
        )
        total += subtotal + tax
    adjustments = []
    if shipping:
        amount = quantize(Decimal(shipping), shop_currency)
        total += amount
        adjustments.append(
            {
                "id": refund_id * 10 + 9,
                "order_id": order["id"],
                "refund_id": refund_id,
                "amount": str(-amount),
                "tax_amount": str(quantize(Decimal(0), shop_currency)),
                "kind": "shipping_refund",
                "reason": "Shipping refund",
                "amount_set": _set(-amount, shop_currency, -amount, shop_currency),
            }
        )
    refund = {
        "id": refund_id,
        "order_id": order["id"],
        "created_at": at,
        "processed_at": at,
        "note": note,
        "restock": any(i["restock_type"] != "no_restock" for i in items),
        "duties": [],
        "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}",
        "refund_line_items": items,
        "refund_shipping_lines": [],
        "order_adjustments": adjustments,
        "transactions": [
            {
                "id": refund_id + 1,
                "order_id": order["id"],
                "kind": "refund",
                "gateway": gateway,
                "status": "success",
                "created_at": at,
                "processed_at": at,
                "amount": str(total),
                "currency": shop_currency,
                "test": False,
            }
        ],
    }
    order.setdefault("refunds", []).append(refund)
    refunded = sum((Decimal(t["amount"]) for r in order["refunds"] for t in r["transactions"]), Decimal(0))
    order["financial_status"] = (
        "refunded" if refunded >= Decimal(order["total_price"]) else "partially_refunded"
    )
    order["updated_at"] = at
    return refund


def shopify_cancel(order: dict[str, Any], reason: str = "customer") -> dict[str, Any]:
    """Cancel a Shopify order (``cancelled_at``, ``cancel_reason``); the body of ``orders/cancelled``."""
    order.update(cancelled_at=now(), cancel_reason=reason, updated_at=now())
    return order


def shopify_return(
    order: dict[str, Any], return_id: int, step: str, lines: list[dict[str, Any]]
) -> dict[str, Any]:
    """The Return body of ``returns/<step>`` for ``lines`` (``{"line_item_id" | "sku", "quantity",
    "reason"}``)."""
    items = [
        {
            "id": return_id * 10 + i,
            "admin_graphql_api_id": f"gid://shopify/ReturnLineItem/{return_id * 10 + i}",
            "fulfillment_line_item": {
                "id": return_id * 100 + i,
                "line_item": {"id": _line(order, ask)["id"]},
            },
            "quantity": int(ask.get("quantity", 1)),
            "return_reason": ask.get("reason", "other"),
            "return_reason_note": "",
            "customer_note": None,
        }
        for i, ask in enumerate(lines)
    ]
    order["updated_at"] = now()
    return {
        "id": return_id,
        "admin_graphql_api_id": f"gid://shopify/Return/{return_id}",
        "status": RETURN_STATUS[step],
        "name": f"{order.get('name')}-R1",
        "order": {"id": order["id"], "admin_graphql_api_id": f"gid://shopify/Order/{order['id']}"},
        "total_return_line_items": len(items),
        "return_line_items": items,
        "return_shipping_fees": [],
        "exchange_line_items": [],
        "total_exchange_line_items": 0,
    }


def shopify_dispute(
    order: dict[str, Any],
    dispute_id: int,
    status: str,
    *,
    amount: str | None = None,
    reason: str = "fraudulent",
    kind: str = "chargeback",
) -> dict[str, Any]:
    """The Dispute body of ``disputes/create|update``."""
    return {
        "id": dispute_id,
        "order_id": order["id"],
        "type": kind,
        "amount": amount or order["total_price"],
        "currency": order["currency"],
        "reason": reason,
        "network_reason_code": "4837",
        "status": status,
        "evidence_due_by": "2031-01-01T23:59:59+00:00",
        "evidence_sent_on": None,
        "finalized_on": None,
        "initiated_at": now(),
    }


def _modified(order: dict[str, Any]) -> None:
    order["date_modified_gmt"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def woocommerce_cancel(order: dict[str, Any]) -> dict[str, Any]:
    """Cancel a WooCommerce order; the body of its ``order.updated``."""
    _modified(order)
    order["status"] = "cancelled"
    return order


def woocommerce_refund(
    order: dict[str, Any],
    refund_id: int,
    lines: list[dict[str, Any]],
    amount: str | None = None,
    reason: str = "",
) -> dict[str, Any]:
    """Refund ``lines`` (``{"line_item_id" | "sku", "quantity"}``) or ``amount`` of a WooCommerce
    order: the order gets a ``refunds`` summary entry (``total`` negative) and, once all is
    refunded, status ``refunded``; returns the full refund object as ``GET
    /wp-json/wc/v3/orders/<id>/refunds`` lists it (lines with negative quantities and totals)."""
    currency, items, total = order["currency"], [], Decimal(0)
    for i, ask in enumerate(lines):
        line = _line(order, ask)
        quantity = int(ask.get("quantity", 1))
        value = quantize(Decimal(str(line["price"])) * quantity, currency)
        total += value
        items.append(
            {
                "id": refund_id * 10 + i,
                "name": line.get("name"),
                "product_id": line.get("product_id"),
                "quantity": -quantity,
                "subtotal": str(-value),
                "subtotal_tax": "0.00",
                "total": str(-value),
                "total_tax": "0.00",
                "sku": line.get("sku"),
                "price": -float(line["price"]),
                "meta_data": [
                    {"id": refund_id * 10 + i, "key": "_refunded_item_id", "value": str(line["id"])}
                ],
            }
        )
    value = quantize(Decimal(amount), currency) if amount else total
    _modified(order)
    order.setdefault("refunds", []).append({"id": refund_id, "reason": reason, "total": str(-value)})
    if sum((-Decimal(r["total"]) for r in order["refunds"]), Decimal(0)) >= Decimal(order["total"]):
        order["status"] = "refunded"
    return {
        "id": refund_id,
        "date_created_gmt": order["date_modified_gmt"],
        "amount": str(value),
        "reason": reason,
        "refunded_by": 1,
        "refunded_payment": True,
        "meta_data": [],
        "line_items": items,
        "shipping_lines": [],
    }


def bigcommerce_refund(
    order: dict[str, Any], refund_id: int, lines: list[dict[str, Any]], reason: str = ""
) -> dict[str, Any]:
    """A v3 refund of a BigCommerce order's products (``{"item_id" | "sku", "quantity"}``)."""
    currency, items, total = order["currency_code"], [], Decimal(0)
    for ask in lines:
        product = next(
            p
            for p in order.get("products") or []
            if p.get("id") == ask.get("item_id") or p.get("sku") == ask.get("sku")
        )
        amount = quantize(
            Decimal(str(product.get("price_ex_tax") or product["price_inc_tax"]))
            * int(ask.get("quantity", 1)),
            currency,
        )
        total += amount
        items.append(
            {
                "item_type": "PRODUCT",
                "item_id": product["id"],
                "quantity": int(ask.get("quantity", 1)),
                "requested_amount": str(amount),
                "reason": reason,
            }
        )
    return {
        "id": refund_id,
        "order_id": order["id"],
        "user_id": 0,
        "created": now(),
        "reason": reason,
        "total_amount": str(total),
        "total_tax": "0",
        "uses_merchant_override_values": False,
        "payments": [
            {
                "id": refund_id + 1,
                "provider_id": "braintree",
                "amount": str(total),
                "offline": False,
                "is_declined": False,
                "declined_message": "",
            }
        ],
        "items": items,
    }
