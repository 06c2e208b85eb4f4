"""shipping-tracker's rules with fakes: webhooks → shipments, shipments → fulfillment + statuses."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bus.contracts import models as m
from bus.errors import PermanentError
from bus.http import ApiClient
from bus.runtime.handlers import Context
from bus.serde import AvroCodec
from bus.webhooks import Endpoint, Publisher, webhook_app
from bus.webhooks.signatures import SCHEMES
from services.shipping_tracker.handlers import ShipmentTracker, TrackingWebhooks
from services.shipping_tracker.statuses import StatusBook
from services.shipping_tracker.storefront import Storefront
from simulators import fixture
from tests.unit.serde.fake_registry import FakeRegistry
from tests.unit.webhooks.fakes import FakeDedupe, FakeSender

SHOP = "hanako-tea.myshopify.com"
ORDER = f"shopify:{SHOP}:6120004415"
SECRET = "carrier-secret"


@dataclass
class FakeStore:
    """The storefront API: order 6120004415 (#1042) exists; answers Shopify's call-limit header."""

    requests: list[httpx.Request] = field(default_factory=list)
    used: int = 1

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        headers = {"X-Shopify-Shop-Api-Call-Limit": f"{self.used}/40"}
        if request.url.path.endswith("/orders.json"):
            found = [{"id": 6120004415, "name": "#1042"}] if request.url.params["name"] == "#1042" else []
            return httpx.Response(200, json={"orders": found}, headers=headers)
        if request.url.path.endswith("/orders/6120004415/fulfillments.json"):
            return httpx.Response(201, json={"fulfillment": json.loads(request.content)["fulfillment"]},
                                  headers=headers)
        return httpx.Response(404, json={"errors": "Not Found"}, headers=headers)

    def fulfillments(self) -> list[dict]:
        return [json.loads(r.content)["fulfillment"] for r in self.requests if r.method == "POST"]


def _storefront(store: FakeStore, sleeps: list[float] | None = None) -> Storefront:
    api = ApiClient("storefront", "https://shop.test", transport=httpx.MockTransport(store.handle))
    return Storefront(api, "shopify", SHOP, notify_customer=True,
                      sleep=(sleeps.append if sleeps is not None else lambda _s: None))


def _update(status: m.ShipmentStatus, hour: int, order_id: str = ORDER,
            tracking: str = "1Z999AA10123456784") -> m.ShipmentUpdated:
    at = datetime(2025, 6, 3, tzinfo=UTC) + timedelta(hours=hour)
    meta = m.Meta(event_id=f"easypost:evt_{hour}", occurred_at=at, correlation_id=order_id,
                  source=m.Source(platform="easypost", system="UPS"))
    return m.ShipmentUpdated(meta=meta, order_id=order_id, carrier="UPS", tracking_number=tracking,
                             status=status, carrier_status=status.value.lower(), occurred_at=at,
                             tracking_url=f"https://ups.test/{tracking}")


def _context() -> Context:
    return Context(topic="shipments.tracking.v1", partition=0, offset=0, key=None, headers=[],
                   timestamp_ms=None)


def _handle(tracker: ShipmentTracker, update: m.ShipmentUpdated) -> list[m.OrderStatusChanged]:
    ctx = _context()
    tracker.track(update, ctx)
    return [o.value for o in ctx.outputs]


def test_out_of_order_scans_end_delivered_and_fulfil_once() -> None:
    store = FakeStore()
    book = StatusBook({}, "orders.status.v1", codec=None)  # type: ignore[arg-type]
    tracker = ShipmentTracker(book, _storefront(store), FakeDedupe(), "orders.status.v1")
    S = m.ShipmentStatus
    emitted = []
    for status, hour in [(S.PRE_TRANSIT, 0), (S.DELIVERED, 30), (S.OUT_FOR_DELIVERY, 24), (S.IN_TRANSIT, 6)]:
        emitted += _handle(tracker, _update(status, hour))
    assert [(e.status, e.previous_status) for e in emitted] == [
        (m.OrderStatus.SHIPPED, None), (m.OrderStatus.DELIVERED, m.OrderStatus.SHIPPED)]
    delivered = emitted[1]
    assert delivered.meta.event_id == "easypost:evt_30:status"
    assert (delivered.meta.causation_id, delivered.meta.source.platform) == ("easypost:evt_30", "ecombus")
    assert book.get(ORDER).status is m.OrderStatus.DELIVERED  # type: ignore[union-attr]
    assert store.fulfillments() == [{"tracking_number": "1Z999AA10123456784",
                                     "tracking_url": "https://ups.test/1Z999AA10123456784",
                                     "tracking_company": "UPS", "notify_customer": True}]


def test_unknown_orders_fail_permanently_with_the_reason() -> None:
    tracker = ShipmentTracker(StatusBook({}, "s", codec=None), _storefront(FakeStore()),  # type: ignore[arg-type]
                              FakeDedupe(), "orders.status.v1")
    reason = f"unknown order shopify:{SHOP}:42: {SHOP} has no order 42"
    with pytest.raises(PermanentError, match=re.escape(reason)):
        _handle(tracker, _update(m.ShipmentStatus.IN_TRANSIT, 1, f"shopify:{SHOP}:42"))
    with pytest.raises(PermanentError, match=re.escape(f"serves shopify:{SHOP}:* orders only")):
        _handle(tracker, _update(m.ShipmentStatus.IN_TRANSIT, 1, "woocommerce:shop.example.de:727"))


def test_a_nearly_full_bucket_makes_the_client_wait() -> None:
    store, sleeps = FakeStore(used=39), []
    _storefront(store, sleeps).push_fulfillment(ORDER, "1Z", None, "UPS")
    assert sleeps == [1.5], "39 of 40 used, 4 kept free, 2 per second drain"


@pytest.fixture
def client() -> Iterator[tuple[TestClient, FakeSender, AvroCodec]]:
    sender, codec = FakeSender(), AvroCodec(FakeRegistry().client())
    webhooks = TrackingWebhooks("shipments.tracking.v1", _storefront(FakeStore()))
    endpoints = [Endpoint("/webhooks/easypost", "easypost", webhooks.easypost, SecretStr(SECRET)),
                 Endpoint("/webhooks/aftership", "aftership", webhooks.aftership, SecretStr(SECRET))]
    publisher = Publisher(sender, codec, FakeDedupe())
    app = webhook_app("shipping-tracker", endpoints, publisher, max_body_bytes=65536)
    with TestClient(app) as test_client:
        yield test_client, sender, codec


def _post(client: TestClient, provider: str, body: bytes) -> dict:
    headers = {"Content-Type": "application/json", **SCHEMES[provider].sign(SECRET, body)}
    response = client.post(f"/webhooks/{provider}", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_aftership_order_name_is_looked_up_and_published_once(
        client: tuple[TestClient, FakeSender, AvroCodec]) -> None:
    test_client, sender, codec = client
    body = fixture("aftership_tracking_update.json")
    assert _post(test_client, "aftership", body)["status"] == "published"
    assert _post(test_client, "aftership", body)["status"] == "duplicate"
    [(topic, value, key, _)] = sender.produced
    shipment = codec.decode(topic, value or b"")
    assert (topic, key, shipment["order_id"]) == ("shipments.tracking.v1", ORDER, ORDER)
    assert shipment["message"] == "配達完了"


def test_webhooks_without_a_known_order_are_dead_lettered(
        client: tuple[TestClient, FakeSender, AvroCodec]) -> None:
    test_client, sender, _ = client
    no_reference = _post(test_client, "easypost", fixture("easypost_tracker_updated.json"))
    assert no_reference["status"] == "dead_lettered" and "no order reference" in no_reference["reason"]
    body = json.loads(fixture("aftership_tracking_update.json"))
    body["msg"]["order_id"] = "#9999"
    unknown = _post(test_client, "aftership", json.dumps(body, ensure_ascii=False).encode())
    assert unknown["reason"] == f"unknown order #9999: {SHOP} has no order with that name"
    assert [t for t, *_ in sender.produced] == ["dlq.shipping-tracker", "dlq.shipping-tracker"]
    event = json.loads(fixture("easypost_tracker_updated.json"))
    event["result"]["reference"] = "6120004415"
    published = _post(test_client, "easypost", json.dumps(event).encode())
    assert published == {"status": "published", "event_ids": ["easypost:evt_7f3a21c0"]}
    assert sender.produced[-1][2] == ORDER
