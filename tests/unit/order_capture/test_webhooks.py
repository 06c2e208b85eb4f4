"""order-capture's webhook edge over HTTP with fakes behind it (no broker): what it accepts, refuses,
and stores on the intake topic, as it came. What a stored delivery means is test_stage.py's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from bus.serde import AvroCodec
from bus.webhooks import webhook_app
from bus.webhooks.intake import IntakeLog
from bus.webhooks.signatures import SCHEMES
from bus.webhooks.tenants import Tenant, Tenants
from services.order_capture.handlers import OrderCapture, Topics
from services.order_capture.settings import OrderCaptureSettings
from services.order_capture.wiring import SHOPS_SETTING, endpoints
from simulators import fixture
from tests.unit.serde.fake_registry import FakeRegistry
from tests.unit.webhooks.fakes import FakeSender

SHOP = "hanako-tea.myshopify.com"
OWN_SECRET_SHOP = "own-app.myshopify.com"
INTAKE = "intake.storefronts.v1"
NOW = 1_749_000_000.0
SECRETS = {"shopify": "shp-secret", "woocommerce": "wc-secret", "bigcommerce": "bc-secret"}
SHOPS = [Tenant(platform="shopify", domain=SHOP),
         Tenant(platform="shopify", domain=OWN_SECRET_SHOP, secret="its-own-secret"),  # type: ignore[arg-type]
         Tenant(platform="woocommerce", domain="shop.example.de"),
         Tenant(platform="bigcommerce", domain="1025646")]


@dataclass
class World:
    client: TestClient
    sender: FakeSender
    codec: AvroCodec

    def post(self, platform: str, body: bytes, headers: dict[str, str] | None = None,
             secret: str | None = None) -> httpx.Response:
        signed = SCHEMES[platform].sign(secret or SECRETS[platform], body, now=NOW)
        return self.client.post(f"/webhooks/{platform}", content=body, headers={
            "Content-Type": "application/json", **signed, **(headers or {})})

    def stored(self) -> list[tuple[str | bytes | None, dict[str, Any]]]:
        """The intake records: (key, decoded RawDelivery)."""
        assert {t for t, *_ in self.sender.produced} <= {INTAKE}, "the edge writes the intake only"
        return [(k, self.codec.decode(t, v or b"")) for t, v, k, _ in self.sender.produced]


@pytest.fixture
def world() -> Iterator[World]:
    settings = OrderCaptureSettings(shopify_webhook_secret=SECRETS["shopify"],
                                    woocommerce_webhook_secret=SECRETS["woocommerce"],
                                    bigcommerce_webhook_secret=SECRETS["bigcommerce"], shops=SHOPS)
    codec, sender = AvroCodec(FakeRegistry().client()), FakeSender()
    intake = IntakeLog(sender, codec, INTAKE, "order-capture", ack_timeout=0.5)
    app = webhook_app("order-capture", endpoints(settings, OrderCapture(Topics())), intake,
                      max_body_bytes=64 * 1024, clock=lambda: NOW,
                      tenants=Tenants(settings.shops, SHOPS_SETTING))
    with TestClient(app) as client:
        yield World(client, sender, codec)


def _shopify_headers(event_id: str = "evt-1", topic: str = "orders/create",
                     shop: str = SHOP) -> dict[str, str]:
    return {"X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": shop, "X-Shopify-Event-Id": event_id,
            "X-Shopify-Webhook-Id": "delivery-1", "X-Shopify-API-Version": "2024-10"}


def _shopify_order(**changes: Any) -> bytes:
    order = json.loads(fixture("shopify_orders_create.json"))
    order.update(changes)
    return json.dumps(order, ensure_ascii=False).encode()


def test_a_shopify_order_is_stored_as_it_came_keyed_by_the_order_and_answered_accepted(world: World) -> None:
    body = fixture("shopify_orders_create.json")
    response = world.post("shopify", body, {**_shopify_headers(), "Cookie": "session=abc",
                                            "Authorization": "Bearer t"})
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"status", "delivery_id"} and answer["status"] == "accepted"
    [(key, raw)] = world.stored()
    identity = f"shopify:{SHOP}:6120004415"
    assert key == identity and raw["identity"] == identity
    assert raw["body"] == body, "the exact bytes the signature covers"
    assert (raw["channel"], raw["topic"], raw["path"]) == ("webhook", "orders/create", "/webhooks/shopify")
    assert raw["meta"]["event_id"] == answer["delivery_id"]
    assert raw["meta"]["source"] == {"platform": "shopify", "system": SHOP}
    assert raw["meta"]["correlation_id"] == identity
    assert raw["meta"]["occurred_at"] == datetime.fromtimestamp(NOW, UTC), "the received time"
    assert raw["received_by"].startswith("order-capture@")
    headers = raw["headers"]
    assert (headers["x-shopify-event-id"], headers["x-shopify-shop-domain"]) == ("evt-1", SHOP)
    assert "x-shopify-hmac-sha256" in headers
    assert "cookie" not in headers and "authorization" not in headers, "credentials are never stored"


def test_every_delivery_is_stored_the_stage_decides_what_is_a_duplicate(world: World) -> None:
    body = fixture("shopify_orders_create.json")
    first = world.post("shopify", body, _shopify_headers()).json()
    again = world.post("shopify", body, _shopify_headers()).json()
    assert first["status"] == again["status"] == "accepted"
    assert first["delivery_id"] != again["delivery_id"], "each delivery has its own id"
    assert [key for key, _ in world.stored()] == [f"shopify:{SHOP}:6120004415"] * 2, "one partition"


def test_an_unknown_shop_is_refused_with_403_and_nothing_is_stored(world: World) -> None:
    body = fixture("shopify_orders_create.json")
    stranger = "someone-else.myshopify.com"
    response = world.post("shopify", body, _shopify_headers(shop=stranger))
    assert (response.status_code, response.json()["error"]) == (403, "unknown_tenant")
    message = response.json()["message"]
    assert SHOPS_SETTING in message and stranger not in message, "names the setting, never the value"
    missing = {k: v for k, v in _shopify_headers().items() if k != "X-Shopify-Shop-Domain"}
    assert world.post("shopify", body, missing).status_code == 403
    assert world.sender.produced == []


def test_a_header_naming_another_shop_than_the_signed_body_is_refused(world: World) -> None:
    body = _shopify_order(order_status_url=f"https://{OWN_SECRET_SHOP}/orders/abc/authenticate")
    response = world.post("shopify", body, _shopify_headers())
    assert (response.status_code, response.json()["error"]) == (403, "unknown_tenant")
    assert OWN_SECRET_SHOP not in response.json()["message"]
    assert world.sender.produced == []


def test_a_shops_own_secret_wins_over_the_app_secret(world: World) -> None:
    body = _shopify_order()
    headers = _shopify_headers(shop=OWN_SECRET_SHOP)
    assert world.post("shopify", body, headers).status_code == 401, "the app secret is not its secret"
    assert world.sender.produced == []
    assert world.post("shopify", body, headers, secret="its-own-secret").status_code == 200
    assert world.post("shopify", body, _shopify_headers(), secret="its-own-secret").status_code == 401, \
        "nor is it any other shop's"
    assert [key for key, _ in world.stored()] == [f"shopify:{OWN_SECRET_SHOP}:6120004415"]


def test_a_bad_signature_is_401(world: World) -> None:
    response = world.post("shopify", fixture("shopify_orders_create.json"), _shopify_headers(),
                          secret="not the secret")
    assert (response.status_code, response.json()["error"]) == (401, "invalid_signature")
    assert world.sender.produced == []


@pytest.mark.parametrize("order_id", [{"n": 61}, [61], True, 1.5, 10**40, -61, 0, "61a", "", None, "٣"])
def test_an_order_id_that_is_no_platform_id_is_400_naming_the_field_not_the_value(
        world: World, order_id: Any) -> None:
    body = _shopify_order(id=order_id)
    response = world.post("shopify", body, _shopify_headers())
    assert (response.status_code, response.json()["error"]) == (400, "malformed_body")
    message = response.json()["message"]
    assert "id" in message
    if order_id not in (None, "", 0):
        assert json.dumps(order_id) not in message and str(order_id) not in message
    assert world.sender.produced == []


def test_an_order_id_as_text_is_refused_as_the_platforms_document_integers(world: World) -> None:
    answer = world.post("shopify", _shopify_order(id="6120004415"), _shopify_headers())
    assert (answer.status_code, answer.json()["error"]) == (400, "malformed_body")
    assert "6120004415" not in answer.json()["message"] and "id" in answer.json()["message"]
    assert world.stored() == []


def test_a_broker_that_does_not_acknowledge_is_503_with_retry_after(world: World) -> None:
    world.sender.failing.add(INTAKE)
    response = world.post("shopify", fixture("shopify_orders_create.json"), _shopify_headers())
    assert (response.status_code, response.json()["error"]) == (503, "unavailable")
    assert response.headers["Retry-After"] == "1"
    assert world.sender.produced == []


def test_woocommerce_order_and_its_unsigned_ping(world: World) -> None:
    headers = {"X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Resource": "order",
               "X-WC-Webhook-Source": "https://shop.example.de/", "X-WC-Webhook-Delivery-ID": "88"}
    response = world.post("woocommerce", fixture("woocommerce_order_created.json"), headers)
    assert response.json()["status"] == "accepted"
    ping = world.client.post("/webhooks/woocommerce", content=b"webhook_id=3",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (ping.status_code, ping.json()) == (200, {"status": "ping"})
    [(key, raw)] = world.stored()
    assert (key, raw["topic"], raw["meta"]["source"]["system"]) == (
        "woocommerce:shop.example.de:727", "order.created", "shop.example.de")
    other_site = world.post("woocommerce", fixture("woocommerce_order_created.json"),
                            {**headers, "X-WC-Webhook-Source": "https://elsewhere.example/"})
    assert other_site.status_code == 403 and "elsewhere.example" not in other_site.json()["message"]
    assert len(world.sender.produced) == 1


def test_bigcommerce_is_stored_by_store_and_order_without_fetching_it(world: World) -> None:
    response = world.post("bigcommerce", fixture("bigcommerce_order_created.json"))
    assert response.json()["status"] == "accepted"
    [(key, raw)] = world.stored()
    assert (key, raw["topic"]) == ("bigcommerce:1025646:250", "store/order/created")


def test_a_bigcommerce_store_that_is_not_configured_is_403(world: World) -> None:
    webhook = json.loads(fixture("bigcommerce_order_created.json"))
    body = json.dumps({**webhook, "store_id": "999777"}).encode()
    response = world.post("bigcommerce", body)
    assert (response.status_code, response.json()["error"]) == (403, "unknown_tenant")
    assert "999777" not in response.json()["message"]
    assert world.sender.produced == []


@pytest.mark.parametrize("data", [[250], "250", {"type": "order"}, {"type": "order", "id": -250}])
def test_bigcommerce_data_without_an_order_id_is_400(world: World, data: Any) -> None:
    webhook = json.loads(fixture("bigcommerce_order_created.json"))
    response = world.post("bigcommerce", json.dumps({**webhook, "data": data}).encode())
    assert (response.status_code, response.json()["error"]) == (400, "malformed_body")
    assert "-250" not in response.json()["message"]
    assert world.sender.produced == []


def test_stale_bigcommerce_timestamp_is_401(world: World) -> None:
    body = fixture("bigcommerce_order_created.json")
    signed = SCHEMES["bigcommerce"].sign(SECRETS["bigcommerce"], body, now=NOW - 3600)
    response = world.client.post("/webhooks/bigcommerce", content=body,
                                 headers={"Content-Type": "application/json", **signed})
    assert (response.status_code, response.json()["error"]) == (401, "invalid_signature")
    assert world.sender.produced == []


def test_oversized_and_wrong_media_type(world: World) -> None:
    big = _shopify_order(note="x" * 70_000)
    assert world.post("shopify", big, _shopify_headers()).status_code == 413
    xml = world.client.post("/webhooks/shopify", content=b"<order/>",
                            headers={"Content-Type": "application/xml"})
    assert (xml.status_code, xml.json()["error"]) == (415, "unsupported_media_type")
    assert world.sender.produced == []
