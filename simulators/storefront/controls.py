"""``/_sim/...``: what a test or the demo asks the storefront simulator to do, and what it saw.

* ``POST /_sim/orders`` ``{"platform": "shopify", "profile": "jp", "number": 2001}`` creates an
  order and sends its webhook; ``profile`` omitted (or ``"fixture"``) uses the platform's fixture
  (the exact bytes); ``"number"`` renumbers a WooCommerce/BigCommerce fixture order. Options:
  ``event_id``, ``bad_signature`` (a forgery: signed with the wrong secret, and the order is not
  in the store), ``drop`` (create the order, lose the webhook), ``deliver`` (false: only create
  it), ``fields`` (top-level fields of the order replaced, e.g. ``{"total": "51,30"}``: a store
  plugin's bad formatting, which the bus dead-letters). Answers the delivery with the status the
  receiver gave.
* ``POST /_sim/orders/{id}/cancel|refund|return|dispute``: after the sale
  (:mod:`simulators.storefront.aftersale_controls`).
* ``POST /_sim/redeliver`` ``{"index": 3}`` (default: the last delivery) sends a delivery again.
* ``POST /_sim/faults`` ``{"status": 503, "count": 2, "latency_seconds": 0.5, "path_prefix":
  "/admin", "drop_webhooks": 1}`` injects failures into the next API calls / webhooks.
* ``POST /_sim/ratelimit`` ``{"capacity": 40, "leak_per_second": 2}``.
* ``GET /_sim/received``: counts per endpoint, requests, fulfillments, inventory, deliveries.
* ``GET /_sim/catalog``: SKU → inventory_item_id and location → location_id.
* ``POST /_sim/reset``: forget everything.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException

from simulators import fixture
from simulators.storefront.orders import PROFILES, generated_order
from simulators.storefront.ratelimit import LeakyBucket
from simulators.storefront.state import CATALOG, LOCATIONS, Fault, StoreState
from simulators.storefront.webhooks import WebhookSender

FIXTURE_FILES = {"shopify": "shopify_orders_create.json", "woocommerce": "woocommerce_order_created.json",
                 "bigcommerce": "bigcommerce_order_250.json"}


def _renumbered(platform: str, number: int | None) -> bytes:
    """The platform's fixture, with its order id replaced when ``number`` is given."""
    raw = fixture(FIXTURE_FILES[platform])
    if number is None:
        return raw
    if platform == "woocommerce":
        return raw.replace(b'"id":727', f'"id":{number}'.encode()).replace(
            b'"number":"727"', f'"number":"{number}"'.encode())
    return raw.replace(b'{"id":250', f'{{"id":{number}'.encode())


def controls_router(state: StoreState, sender: WebhookSender, bucket: LeakyBucket) -> APIRouter:
    router = APIRouter(prefix="/_sim")

    @router.post("/orders")
    async def create_order(request: dict[str, Any]) -> dict[str, Any]:
        platform = request.get("platform", "shopify")
        profile, number = request.get("profile"), request.get("number")
        if platform not in FIXTURE_FILES or (profile not in (None, "fixture") and profile not in PROFILES):
            raise HTTPException(422, f"platform one of {sorted(FIXTURE_FILES)}, profile one of "
                                     f"{sorted(PROFILES)} or fixture")
        if platform == "shopify" and profile not in (None, "fixture"):
            order = generated_order(int(number or 1), profile)
            body = json.dumps(order, ensure_ascii=False).encode()
        else:
            body = _renumbered(platform, number)
            order = json.loads(body)
        if request.get("fields"):
            order.update(request["fields"])
            body = json.dumps(order, ensure_ascii=False).encode()
        bad_signature, drop = bool(request.get("bad_signature")), bool(request.get("drop"))
        if not bad_signature:  # a forged webhook comes from someone else: the store has no such order
            state.add_order(platform, order)
        summary = {"platform": platform, "id": order["id"], "name": order.get("name") or order.get("number"),
                   "currency": order.get("currency") or order.get("currency_code")}
        if request.get("deliver", True) is False:
            return {"order": summary, "delivery": None}
        if platform == "shopify":
            delivery = await sender.shopify(body, event_id=request.get("event_id"), order_id=order["id"],
                                            bad_signature=bad_signature, drop=drop)
        elif platform == "woocommerce":
            delivery = await sender.woocommerce(body, order_id=order["id"], bad_signature=bad_signature,
                                                drop=drop)
        else:
            delivery = await sender.bigcommerce(order["id"], bad_signature=bad_signature, drop=drop)
        return {"order": summary, "delivery": delivery}

    @router.post("/redeliver")
    async def redeliver(request: dict[str, Any]) -> dict[str, Any]:
        deliveries = state.snapshot()["deliveries"]
        if not deliveries:
            raise HTTPException(404, "nothing was delivered yet")
        index = request.get("index", len(deliveries) - 1)
        return await sender.redeliver(int(index))

    @router.post("/faults")
    def faults(request: dict[str, Any]) -> dict[str, Any]:
        fault = Fault(int(request.get("count", 1)), request.get("status"),
                      float(request.get("latency_seconds", 0.0)), request.get("path_prefix", "/"))
        state.add_fault(fault if request.get("status") or fault.latency_seconds else Fault(0),
                        int(request.get("drop_webhooks", 0)))
        return {"faults": state.snapshot()["faults"], "drop_webhooks": state.drop_webhooks}

    @router.post("/ratelimit")
    def ratelimit(request: dict[str, Any]) -> dict[str, Any]:
        bucket.reconfigure(int(request.get("capacity", bucket.capacity)),
                           float(request.get("leak_per_second", bucket.leak_per_second)))
        return {"capacity": bucket.capacity, "leak_per_second": bucket.leak_per_second}

    @router.get("/received")
    def received() -> dict[str, Any]:
        return state.snapshot()

    @router.get("/catalog")
    def catalog() -> dict[str, Any]:
        return {"inventory_items": CATALOG, "locations": LOCATIONS}

    @router.post("/reset")
    def reset() -> dict[str, str]:
        state.reset()
        return {"status": "reset"}

    return router
