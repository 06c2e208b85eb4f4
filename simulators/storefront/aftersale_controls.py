"""``POST /_sim/orders/{id}/cancel|refund|return|dispute``: after the sale, on a stored order.

Each control changes the stored order (:mod:`simulators.storefront.aftersale`) and sends the
platform's webhook, signed as every other (``"drop": true`` loses it, as a lost webhook;
``"deliver": false`` only changes the order). ``platform`` is ``shopify`` (default),
``woocommerce`` or ``bigcommerce``. Answers ``{"order": id, "<what>": the payload, "delivery": ...}``.

* ``cancel`` ``{"reason": "customer"}``: Shopify ``orders/cancelled``; WooCommerce ``order.updated``
  (status cancelled); BigCommerce ``store/order/statusUpdated`` (to 5, Cancelled).
* ``refund`` ``{"lines": [{"line_item_id": 14030020 | "sku": "MATCHA-40G", "quantity": 1,
  "restock_type": "return"}], "shipping": "1.000", "note": "dented", "event_id": "evt-r1"}``:
  Shopify ``refunds/create`` (the refund also listed in the order's ``refunds``); WooCommerce
  ``order.updated`` with a ``refunds`` summary entry (``lines`` as for Shopify, or ``"amount":
  "4.90"``; the full refund served by ``/wp-json/wc/v3/orders/<id>/refunds``); BigCommerce
  ``store/order/refund/created`` (the refund served by the v3 refunds API).
* ``return`` ``{"step": "request|approve|decline|cancel|close|reopen|process", "return_id": 1,
  "lines": [{"sku": "MATCHA-40G", "quantity": 1, "reason": "defective"}]}``: Shopify
  ``returns/<step>`` (a new return id when none is given).
* ``dispute`` ``{"status": "needs_response", "dispute_id": 1, "amount": "10.00", "reason":
  "fraudulent", "create": true}``: Shopify ``disputes/create`` (``disputes/update`` with
  ``"create": false``).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException

from simulators.storefront import aftersale as after
from simulators.storefront.state import StoreState
from simulators.storefront.webhooks import WebhookSender


def aftersale_router(state: StoreState, sender: WebhookSender) -> APIRouter:
    router = APIRouter(prefix="/_sim/orders")

    def change(platform: str, order_id: int, fn: Any) -> tuple[dict[str, Any], Any]:
        try:
            changed = state.change_order(platform, order_id, fn)
        except (ValueError, KeyError, StopIteration) as exc:
            raise HTTPException(422, f"cannot apply it to the order: {exc!r}") from None
        if changed is None:
            raise HTTPException(404, f"no {platform} order {order_id}")
        return changed

    async def shopify(
        topic: str, body: dict[str, Any], order_id: int, request: dict[str, Any]
    ) -> dict | None:
        if request.get("deliver", True) is False:
            return None
        return await sender.shopify(
            json.dumps(body, ensure_ascii=False).encode(),
            topic=topic,
            event_id=request.get("event_id"),
            order_id=order_id,
            drop=bool(request.get("drop")),
        )

    async def woocommerce(order: dict[str, Any], request: dict[str, Any]) -> dict | None:
        if request.get("deliver", True) is False:
            return None
        return await sender.woocommerce(
            json.dumps(order, ensure_ascii=False).encode(),
            topic="order.updated",
            order_id=order["id"],
            drop=bool(request.get("drop")),
        )

    async def bigcommerce(
        order_id: int, scope: str, data: dict[str, Any], request: dict[str, Any]
    ) -> dict | None:
        if request.get("deliver", True) is False:
            return None
        return await sender.bigcommerce(order_id, scope=scope, data=data, drop=bool(request.get("drop")))

    @router.post("/{order_id}/cancel")
    async def cancel(order_id: int, request: dict[str, Any]) -> dict[str, Any]:
        platform, reason = request.get("platform", "shopify"), request.get("reason", "customer")
        if platform == "shopify":
            order, _ = change(platform, order_id, lambda o, _: after.shopify_cancel(o, reason))
            delivery = await shopify("orders/cancelled", order, order_id, request)
        elif platform == "woocommerce":
            order, _ = change(platform, order_id, lambda o, _: after.woocommerce_cancel(o))
            delivery = await woocommerce(order, request)
        else:
            order, _ = change(platform, order_id, lambda o, _: o.update(status="Cancelled", status_id=5))
            delivery = await bigcommerce(
                order_id,
                "store/order/statusUpdated",
                {"status": {"previous_status_id": 11, "new_status_id": 5}},
                request,
            )
        return {"order": order_id, "cancelled": True, "delivery": delivery}

    @router.post("/{order_id}/refund")
    async def refund(order_id: int, request: dict[str, Any]) -> dict[str, Any]:
        platform, lines = request.get("platform", "shopify"), request.get("lines") or []
        if platform == "shopify":
            _, made = change(
                platform,
                order_id,
                lambda o, new_id: after.shopify_refund(
                    o,
                    int(request.get("refund_id") or new_id),
                    lines,
                    shipping=request.get("shipping"),
                    note=request.get("note"),
                ),
            )
            delivery = await shopify("refunds/create", made, order_id, request)
        elif platform == "woocommerce":
            order, made = change(
                platform,
                order_id,
                lambda o, new_id: after.woocommerce_refund(
                    o,
                    int(request.get("refund_id") or new_id),
                    lines,
                    amount=request.get("amount"),
                    reason=request.get("note", ""),
                ),
            )
            state.add_refund("woocommerce", order_id, made)
            delivery = await woocommerce(order, request)
        else:
            _, made = change(
                platform,
                order_id,
                lambda o, new_id: after.bigcommerce_refund(
                    o, int(request.get("refund_id") or new_id), lines, request.get("note", "")
                ),
            )
            state.add_refund("bigcommerce", order_id, made)
            delivery = await bigcommerce(
                order_id, "store/order/refund/created", {"refund": {"refund_id": made["id"]}}, request
            )
        return {"order": order_id, "refund": made, "delivery": delivery}

    @router.post("/{order_id}/return")
    async def return_(order_id: int, request: dict[str, Any]) -> dict[str, Any]:
        step = request.get("step", "request")
        if step not in after.RETURN_STATUS or request.get("platform", "shopify") != "shopify":
            raise HTTPException(422, f"shopify returns only; step one of {sorted(after.RETURN_STATUS)}")
        _, made = change(
            "shopify",
            order_id,
            lambda o, new_id: after.shopify_return(
                o, int(request.get("return_id") or new_id), step, request.get("lines") or []
            ),
        )
        return {
            "order": order_id,
            "return": made,
            "delivery": await shopify(f"returns/{step}", made, order_id, request),
        }

    @router.post("/{order_id}/dispute")
    async def dispute(order_id: int, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("platform", "shopify") != "shopify":
            raise HTTPException(422, "shopify disputes only")
        _, made = change(
            "shopify",
            order_id,
            lambda o, new_id: after.shopify_dispute(
                o,
                int(request.get("dispute_id") or new_id),
                request.get("status", "needs_response"),
                amount=request.get("amount"),
                reason=request.get("reason", "fraudulent"),
            ),
        )
        topic = "disputes/create" if request.get("create", True) else "disputes/update"
        return {"order": order_id, "dispute": made, "delivery": await shopify(topic, made, order_id, request)}

    return router
