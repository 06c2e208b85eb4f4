"""Signing and sending the store's webhooks the way each platform does (REFERENCE.md §5).

Shopify sends ``X-Shopify-Topic``, ``-Shop-Domain``, ``-API-Version``, a new ``-Webhook-Id`` per
delivery and the same ``-Event-Id`` for every delivery of one event; WooCommerce its
``X-WC-Webhook-*`` headers; BigCommerce Standard Webhooks headers. Signatures come from
:data:`bus.webhooks.signatures.SCHEMES`, the same code order-capture verifies with. Every
delivery (also a dropped one) is recorded with its delivery id, the answer it got and how long the
answer took (``seconds``), and can be redelivered unchanged, as a platform's retry would be.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from bus.webhooks.signatures import SCHEMES
from simulators.storefront.config import StorefrontConfig
from simulators.storefront.state import StoreState

WRONG_SECRET = "not-the-secret"


class WebhookSender:
    """Sends the store's webhooks and records each delivery in ``state``."""

    def __init__(self, config: StorefrontConfig, state: StoreState,
                 client: httpx.AsyncClient | None = None) -> None:
        self.config, self.state = config, state
        self._client = client
        self._requests: dict[int, tuple[str, bytes, dict[str, str], bool]] = {}

    async def shopify(self, body: bytes, *, topic: str = "orders/create", event_id: str | None = None,
                      order_id: int | None = None, bad_signature: bool = False, drop: bool = False) -> dict:
        headers = {"X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": self.config.shop_domain,
                   "X-Shopify-API-Version": "2024-10", "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
                   "X-Shopify-Triggered-At": datetime.now(UTC).isoformat()}
        return await self._deliver("shopify", body, headers, order_id, bad_signature, drop)

    async def woocommerce(self, body: bytes, *, topic: str = "order.created", order_id: int | None = None,
                          bad_signature: bool = False, drop: bool = False) -> dict:
        resource, event = topic.split(".", 1)
        headers = {"X-WC-Webhook-Source": self.config.woocommerce_source, "X-WC-Webhook-Topic": topic,
                   "X-WC-Webhook-Resource": resource, "X-WC-Webhook-Event": event, "X-WC-Webhook-ID": "7"}
        return await self._deliver("woocommerce", body, headers, order_id, bad_signature, drop)

    async def bigcommerce(self, order_id: int, *, bad_signature: bool = False, drop: bool = False,
                          scope: str = "store/order/created", data: dict[str, Any] | None = None) -> dict:
        """A thin webhook of ``scope`` about an order; ``data`` adds to its ``data`` (a status
        update's ``status``, a refund's ``refund``)."""
        body = json.dumps({"scope": scope, "store_id": self.config.bigcommerce_store_id,
                           "data": {"type": "order", "id": order_id, **(data or {})},
                           "hash": uuid.uuid4().hex,
                           "created_at": int(datetime.now(UTC).timestamp()),
                           "producer": f"stores/{self.config.bigcommerce_store_hash}"}).encode()
        return await self._deliver("bigcommerce", body, {}, order_id, bad_signature, drop)

    async def redeliver(self, index: int) -> dict:
        """Send delivery ``index`` again: same body and event id, a new delivery id."""
        platform, body, headers, bad_signature = self._requests[index]
        original = self.state.delivery(index)
        return await self._deliver(platform, body, headers, original.get("order_id"), bad_signature, False,
                                   redelivery_of=index)

    async def _deliver(self, platform: str, body: bytes, headers: dict[str, str], order_id: int | None,
                       bad_signature: bool, drop: bool, redelivery_of: int | None = None) -> dict:
        url = self.config.webhook_urls.get(platform)
        delivery_id = str(uuid.uuid4())
        sent = {**headers, "Content-Type": "application/json",
                **({"X-Shopify-Webhook-Id": delivery_id} if platform == "shopify" else {}),
                **({"X-WC-Webhook-Delivery-ID": delivery_id} if platform == "woocommerce" else {})}
        message_id = headers.get("X-Shopify-Event-Id") or delivery_id
        secret = WRONG_SECRET if bad_signature else self.config.secrets.get(platform, "")
        sent.update(SCHEMES[platform].sign(secret, body, message_id=f"msg_{message_id}"))
        record: dict[str, Any] = {
            "platform": platform,
            "topic": headers.get("X-Shopify-Topic") or headers.get("X-WC-Webhook-Topic")
            or json.loads(body).get("scope"),
            "order_id": order_id, "event_id": headers.get("X-Shopify-Event-Id"),
            "delivery_id": delivery_id, "url": url, "bad_signature": bad_signature,
            "redelivery_of": redelivery_of, "dropped": False, "status": None, "answer": None,
            "at": datetime.now(UTC).isoformat(), "seconds": None}
        if drop or self.state.take_drop():
            record["dropped"] = True
        elif not url:
            record["answer"] = f"no webhook URL configured for {platform}"
        else:
            started = time.perf_counter()
            record["status"], record["answer"] = await self._post(url, body, sent)
            record["seconds"] = round(time.perf_counter() - started, 6)
        index = self.state.record_delivery(record)
        self._requests[index] = (platform, body, headers, bad_signature)
        return {"index": index, **record}

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, Any]:
        client = self._client or httpx.AsyncClient(timeout=10.0)
        try:
            response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        finally:
            if self._client is None:
                await client.aclose()
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text[:500]
