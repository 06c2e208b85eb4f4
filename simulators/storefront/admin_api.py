"""The storefront APIs the bus calls: Shopify-like admin REST and a BigCommerce-like orders API.

Paths and bodies follow the real APIs (other services call exactly these):

* ``GET  /admin/api/2024-10/orders.json?updated_at_min=&updated_at_max=&status=any&limit=``
  (``Link: <...page_info=...>; rel="next"`` when there are more; ``name=%231042`` finds one)
* ``GET  /admin/api/2024-10/orders/{id}.json``
* ``GET  /admin/api/2024-10/inventory_levels.json?inventory_item_ids=1,2&location_ids=3``
* ``POST /admin/api/2024-10/inventory_levels/set.json`` ``{location_id, inventory_item_id, available}``
* ``POST /admin/api/2024-10/inventory_levels/adjust.json``
  ``{location_id, inventory_item_id, available_adjustment}``
* ``POST /admin/api/2024-10/orders/{id}/fulfillments.json``
  ``{"fulfillment": {tracking_number, tracking_url, tracking_company, notify_customer}}``
* ``GET  /stores/{store_hash}/v2/orders/{id}`` (BigCommerce v2 order shape)
* ``GET  /stores/{store_hash}/v3/orders/{id}/payment_actions/refunds`` (``{"data": [refund...]}``)
* ``GET  /wp-json/wc/v3/orders/{id}/refunds`` (WooCommerce refund objects, lines included)

The Shopify orders carry their ``refunds`` (and ``cancelled_at``) once the after-sale controls
made them (:mod:`simulators.storefront.aftersale_controls`), so reconciliation sees them.

Errors answer as Shopify does (``{"errors": ...}``); 404 for unknown orders.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from simulators.storefront.state import StoreState

ADMIN = "/admin/api/2024-10"


def _ids(raw: str | None) -> set[int] | None:
    return {int(x) for x in raw.split(",") if x.strip()} if raw else None


def _when(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw) if raw else None


def _not_found() -> JSONResponse:
    return JSONResponse({"errors": "Not Found"}, status_code=404)


def _unprocessable(message: str) -> JSONResponse:
    return JSONResponse({"errors": message}, status_code=422)


async def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def admin_router(state: StoreState) -> APIRouter:
    """Routes of the Shopify-like admin API and the BigCommerce-like orders API."""
    router = APIRouter()

    @router.get(f"{ADMIN}/orders.json")
    def list_orders(request: Request, updated_at_min: str | None = None, updated_at_max: str | None = None,
                    status: str = "open", limit: int = 50, page_info: str | None = None,
                    name: str | None = None) -> JSONResponse:
        offset = 0
        if page_info:  # cursor pagination: the cursor carries the original filters
            cursor = json.loads(base64.urlsafe_b64decode(page_info))
            updated_at_min, updated_at_max, offset = cursor["min"], cursor["max"], cursor["offset"]
        found = state.orders_updated_between(_when(updated_at_min), _when(updated_at_max))
        if name:
            found = [o for o in found if o.get("name") == name]
        page = found[offset:offset + limit]
        headers = {}
        if offset + limit < len(found):
            cursor = {"min": updated_at_min, "max": updated_at_max, "offset": offset + limit}
            token = base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode()
            headers["Link"] = f'<{request.url.replace(query=f"limit={limit}&page_info={token}")}>; rel="next"'
        return JSONResponse({"orders": page}, headers=headers)

    @router.get(ADMIN + "/orders/{order_id}.json")
    def get_order(order_id: int) -> JSONResponse:
        order = state.order("shopify", order_id)
        return JSONResponse({"order": order}) if order else _not_found()

    @router.get(f"{ADMIN}/inventory_levels.json")
    def inventory_levels(inventory_item_ids: str | None = None,
                         location_ids: str | None = None) -> JSONResponse:
        if not inventory_item_ids and not location_ids:
            return _unprocessable("inventory_item_ids or location_ids is required")
        return JSONResponse({"inventory_levels": state.levels(_ids(inventory_item_ids), _ids(location_ids))})

    @router.post(f"{ADMIN}/inventory_levels/set.json")
    async def set_level(request: Request) -> JSONResponse:
        body = await _json_body(request)
        if not body or not all(isinstance(body.get(k), int) for k in
                               ("location_id", "inventory_item_id", "available")):
            return _unprocessable("location_id, inventory_item_id and available (integers) are required")
        level = state.set_level(body["inventory_item_id"], body["location_id"], body["available"])
        return JSONResponse({"inventory_level": level})

    @router.post(f"{ADMIN}/inventory_levels/adjust.json")
    async def adjust_level(request: Request) -> JSONResponse:
        body = await _json_body(request)
        if not body or not all(isinstance(body.get(k), int) for k in
                               ("location_id", "inventory_item_id", "available_adjustment")):
            return _unprocessable("location_id, inventory_item_id and available_adjustment are required")
        level = state.adjust_level(body["inventory_item_id"], body["location_id"],
                                   body["available_adjustment"])
        return JSONResponse({"inventory_level": level})

    @router.post(ADMIN + "/orders/{order_id}/fulfillments.json")
    async def create_fulfillment(order_id: int, request: Request) -> JSONResponse:
        body = await _json_body(request)
        fields = body.get("fulfillment", body) if body else None
        if not isinstance(fields, dict) or not fields.get("tracking_number"):
            return _unprocessable("fulfillment.tracking_number is required")
        kept = {k: fields.get(k) for k in ("tracking_number", "tracking_url", "tracking_company",
                                           "notify_customer")}
        fulfillment = state.add_fulfillment(order_id, kept)
        return JSONResponse({"fulfillment": fulfillment}, status_code=201) if fulfillment else _not_found()

    @router.get("/stores/{store_hash}/v2/orders/{order_id}")
    def bigcommerce_order(store_hash: str, order_id: int) -> JSONResponse:
        order = state.order("bigcommerce", order_id)
        if order is None:
            return JSONResponse([{"status": 404, "message": "The requested resource was not found."}],
                                status_code=404)
        return JSONResponse(order)

    @router.get("/stores/{store_hash}/v3/orders/{order_id}/payment_actions/refunds")
    def bigcommerce_refunds(store_hash: str, order_id: int) -> JSONResponse:
        if state.order("bigcommerce", order_id) is None:
            return JSONResponse({"status": 404, "title": "Order not found"}, status_code=404)
        return JSONResponse({"data": state.refunds_of("bigcommerce", order_id), "meta": {}})

    @router.get("/wp-json/wc/v3/orders/{order_id}/refunds")
    def woocommerce_refunds(order_id: int) -> JSONResponse:
        if state.order("woocommerce", order_id) is None:
            return JSONResponse({"code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID.",
                                 "data": {"status": 404}}, status_code=404)
        return JSONResponse(state.refunds_of("woocommerce", order_id))

    return router
