"""order-capture's endpoints over HTTP with fakes behind them (no broker): what each webhook publishes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi.testclient import TestClient

from bus.http import ApiClient
from bus.runtime.retry import RetryPolicy
from bus.serde import AvroCodec
from bus.webhooks import Publisher, webhook_app
from bus.webhooks.signatures import SCHEMES
from services.order_capture.handlers import OrderCapture, Topics
from services.order_capture.settings import OrderCaptureSettings
from services.order_capture.wiring import endpoints
from simulators import fixture
from tests.unit.serde.fake_registry import FakeRegistry
from tests.unit.webhooks.fakes import FakeDedupe, FakeSender

SHOP = "hanako-tea.myshopify.com"
SECRETS = {"shopify": "shp-secret", "woocommerce": "wc-secret", "bigcommerce": "bc-secret"}


@dataclass
class World:
    client: TestClient
    sender: FakeSender
    codec: AvroCodec
    api_calls: list[str]

    def post(self, platform: str, body: bytes, headers: dict[str, str] | None = None,
             secret: str | None = None) -> httpx.Response:
        signed = SCHEMES[platform].sign(secret or SECRETS[platform], body)
        return self.client.post(f"/webhooks/{platform}", content=body, headers={
            "Content-Type": "application/json", **signed, **(headers or {})})

    def published(self, topic: str) -> list[dict]:
        return [self.codec.decode(t, v or b"") for t, v, _, _ in self.sender.produced if t == topic]


def _bigcommerce_api(calls: list[str]) -> ApiClient:
    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/stores/abc123/v2/orders/250":
            return httpx.Response(200, content=fixture("bigcommerce_order_250.json"))
        if request.url.path.endswith("/orders/503"):
            return httpx.Response(503, text="maintenance")
        return httpx.Response(404, json={"status": 404, "title": "The requested resource was not found."})

    return ApiClient("bigcommerce", "https://api.bigcommerce.test", transport=httpx.MockTransport(answer),
                     retry=RetryPolicy(max_attempts=2, initial_backoff=0.01, budget_seconds=0.1, jitter=0))


@pytest.fixture
def world() -> Iterator[World]:
    settings = OrderCaptureSettings(shopify_webhook_secret=SECRETS["shopify"],
                                    woocommerce_webhook_secret=SECRETS["woocommerce"],
                                    bigcommerce_webhook_secret=SECRETS["bigcommerce"])
    calls: list[str] = []
    codec, sender = AvroCodec(FakeRegistry().client()), FakeSender()
    capture = OrderCapture(Topics(), _bigcommerce_api(calls))
    app = webhook_app("order-capture", endpoints(settings, capture),
                      Publisher(sender, codec, FakeDedupe(), ack_timeout=0.5), max_body_bytes=64 * 1024)
    with TestClient(app) as client:
        yield World(client, sender, codec, calls)


def _shopify_headers(event_id: str = "evt-1", topic: str = "orders/create") -> dict[str, str]:
    return {"X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": SHOP, "X-Shopify-Event-Id": event_id,
            "X-Shopify-Webhook-Id": "delivery-1", "X-Shopify-API-Version": "2024-10"}


def test_shopify_order_becomes_order_placed_and_customer_once(world: World) -> None:
    body = fixture("shopify_orders_create.json")
    response = world.post("shopify", body, _shopify_headers())
    assert response.status_code == 200
    assert response.json()["event_ids"] == [f"shopify:{SHOP}:evt-1", f"shopify:{SHOP}:evt-1:customer"]
    [order] = world.published("orders.placed.v1")
    assert order["order_id"] == f"shopify:{SHOP}:6120004415"
    assert order["shipping_address"]["line1"] == "神宮前1丁目2\u22123"
    [profile] = world.published("customers.profiles.v1")
    assert profile["customer_key"] == "hanako.sato@example.jp"
    assert world.sender.produced[0][2] == f"shopify:{SHOP}:6120004415", "keyed by order id"

    again = world.post("shopify", body, {**_shopify_headers(), "X-Shopify-Webhook-Id": "delivery-2"})
    assert again.json()["status"] == "duplicate"
    other_event = world.post("shopify", body, _shopify_headers("evt-9"))
    assert other_event.json()["status"] == "duplicate", "one OrderPlaced per order, whatever the event id"
    assert len(world.published("orders.placed.v1")) == 1


def test_shopify_cancellation_is_a_status_change(world: World) -> None:
    order = json.loads(fixture("shopify_orders_create.json"))
    order.update(cancelled_at="2025-06-04T09:00:00+09:00", cancel_reason="customer",
                 updated_at="2025-06-04T09:00:01+09:00")
    body = json.dumps(order, ensure_ascii=False).encode()
    response = world.post("shopify", body, _shopify_headers("evt-c", "orders/cancelled"))
    assert response.json()["status"] == "published"
    [status] = world.published("orders.status.v1")
    assert (status["order_id"], status["status"]) == (f"shopify:{SHOP}:6120004415", "CANCELLED")
    plain = fixture("shopify_orders_create.json")
    note = world.post("shopify", plain, _shopify_headers("evt-u", "orders/updated"))
    assert note.json()["status"] == "ignored"
    paid = world.post("shopify", body, _shopify_headers("evt-p", "orders/paid"))
    assert paid.json() == {"status": "ignored", "event_ids": [],
                           "note": "Shopify topic orders/paid is not handled"}


def test_shopify_without_shop_domain_or_with_a_bad_signature(world: World) -> None:
    body = fixture("shopify_orders_create.json")
    headers = {k: v for k, v in _shopify_headers().items() if k != "X-Shopify-Shop-Domain"}
    assert world.post("shopify", body, headers).status_code == 400
    assert world.post("shopify", body, _shopify_headers(), secret="not the secret").status_code == 401
    assert world.sender.produced == []


def test_woocommerce_order_and_ping(world: World) -> None:
    headers = {"X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Resource": "order",
               "X-WC-Webhook-Source": "https://shop.example.de/", "X-WC-Webhook-Delivery-ID": "88"}
    body = fixture("woocommerce_order_created.json")
    response = world.post("woocommerce", body, headers)
    assert response.json()["event_ids"][0] == "woocommerce:shop.example.de:727:2025-06-03T12:02:12"
    redelivered = world.post("woocommerce", body, {**headers, "X-WC-Webhook-Delivery-ID": "89"})
    assert redelivered.json()["status"] == "duplicate"
    [order] = world.published("orders.placed.v1")
    assert (order["customer"]["first_name"], order["currency"]) == ("Zoë", "EUR")
    ping = world.client.post("/webhooks/woocommerce", content=b"webhook_id=3",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (ping.status_code, ping.json()) == (200, {"status": "ping"})
    assert len(world.sender.produced) == 2


def test_bigcommerce_thin_webhook_fetches_the_order(world: World) -> None:
    body = fixture("bigcommerce_order_created.json")
    response = world.post("bigcommerce", body)
    assert response.status_code == 200
    assert response.json()["event_ids"][0] == "bigcommerce:1025646:dd70c0976e06b67aaf671e73f49dcb79230ebf9d"
    assert world.api_calls == ["/stores/abc123/v2/orders/250"]
    [order] = world.published("orders.placed.v1")
    assert (order["order_id"], order["customer"]["first_name"]) == ("bigcommerce:1025646:250", "Siobhán")
    assert world.post("bigcommerce", body).json()["status"] == "duplicate"


def test_bigcommerce_unknown_order_is_dead_lettered_and_outage_is_503(world: World) -> None:
    webhook = json.loads(fixture("bigcommerce_order_created.json"))
    unknown = json.dumps({**webhook, "data": {"type": "order", "id": 404}, "hash": "h404"}).encode()
    response = world.post("bigcommerce", unknown)
    assert (response.status_code, response.json()["status"]) == (200, "dead_lettered")
    assert "404" in response.json()["reason"]
    assert [t for t, *_ in world.sender.produced] == ["dlq.order-capture"]
    down = json.dumps({**webhook, "data": {"type": "order", "id": 503}, "hash": "h503"}).encode()
    assert world.post("bigcommerce", down).status_code == 503
    assert world.api_calls.count("/stores/abc123/v2/orders/503") == 2, "retried within the budget"


def test_stale_bigcommerce_timestamp_is_401(world: World) -> None:
    body = fixture("bigcommerce_order_created.json")
    signed = SCHEMES["bigcommerce"].sign(SECRETS["bigcommerce"], body, now=1_000_000_000)
    response = world.client.post("/webhooks/bigcommerce", content=body,
                                 headers={"Content-Type": "application/json", **signed})
    assert (response.status_code, response.json()["error"]) == (401, "invalid_signature")


def test_oversized_and_wrong_media_type(world: World) -> None:
    big = json.dumps({"id": 1, "note": "x" * 70_000}).encode()
    assert world.post("shopify", big, _shopify_headers()).status_code == 413
    xml = world.client.post("/webhooks/shopify", content=b"<order/>",
                            headers={"Content-Type": "application/xml"})
    assert (xml.status_code, xml.json()["error"]) == (415, "unsupported_media_type")
    assert world.sender.produced == []
