"""shipping-tracker's rules with fakes: webhooks → shipments, shipments → fulfillment + statuses."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bus.contracts import models as m
from bus.errors import PermanentError
from bus.http import ApiClient
from bus.runtime.handlers import Context
from bus.serde import AvroCodec
from bus.webhooks import Endpoint, IntakeLog, webhook_app
from bus.webhooks.signatures import SCHEMES
from services.shipping_tracker.handlers import CarrierIdentities, ShipmentTracker, TrackingWebhooks
from services.shipping_tracker.statuses import StatusBook
from services.shipping_tracker.storefront import Storefront
from simulators import fixture
from tests.unit.serde.fake_registry import FakeRegistry
from tests.unit.webhooks.fakes import FakeMarks, FakeSender, MemoryDedupe, run_stage

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
    tracker = ShipmentTracker(book, _storefront(store), FakeMarks(), "orders.status.v1")
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
                              FakeMarks(), "orders.status.v1")
    reason = f"unknown order shopify:{SHOP}:42: {SHOP} has no order 42"
    with pytest.raises(PermanentError, match=re.escape(reason)):
        _handle(tracker, _update(m.ShipmentStatus.IN_TRANSIT, 1, f"shopify:{SHOP}:42"))
    with pytest.raises(PermanentError, match=re.escape(f"serves shopify:{SHOP}:* orders only")):
        _handle(tracker, _update(m.ShipmentStatus.IN_TRANSIT, 1, "woocommerce:shop.example.de:727"))


def test_a_nearly_full_bucket_makes_the_client_wait() -> None:
    store, sleeps = FakeStore(used=39), []
    _storefront(store, sleeps).push_fulfillment(ORDER, "1Z", None, "UPS")
    assert sleeps == [1.5], "39 of 40 used, 4 kept free, 2 per second drain"


INTAKE = "intake.carriers.v1"


@dataclass
class Carriers:
    """The carrier edge on a fake sender, and its stage on fake Kafka clients."""

    client: TestClient
    sender: FakeSender
    codec: AvroCodec
    monkeypatch: pytest.MonkeyPatch

    def post(self, provider: str, body: bytes) -> dict:
        headers = {"Content-Type": "application/json", **SCHEMES[provider].sign(SECRET, body)}
        response = self.client.post(f"/webhooks/{provider}", content=body, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    def interpret(self, *batches: int) -> Any:
        """Run what the edge stored through the stage, ``batches`` records per transaction."""
        stored, values = [v for _, v, _, _ in self.sender.produced], []
        for size in batches:
            values.append([(0, v) for v in stored[:size]])
            stored = stored[size:]
        webhooks = TrackingWebhooks("shipments.tracking.v1", _storefront(FakeStore()))
        return run_stage(self.monkeypatch, INTAKE, webhooks.interpret,
                         MemoryDedupe("shipping-tracker.intake.changelog"), self.codec, values,
                         service="shipping-tracker")


@pytest.fixture
def carriers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Carriers]:
    sender, codec = FakeSender(), AvroCodec(FakeRegistry().client())
    endpoints = [Endpoint("/webhooks/easypost", "easypost", CarrierIdentities.easypost, SecretStr(SECRET)),
                 Endpoint("/webhooks/aftership", "aftership", CarrierIdentities.aftership, SecretStr(SECRET))]
    intake = IntakeLog(sender, codec, INTAKE, "shipping-tracker")
    app = webhook_app("shipping-tracker", endpoints, intake, max_body_bytes=65536)
    with TestClient(app) as test_client:
        yield Carriers(test_client, sender, codec, monkeypatch)


def test_carrier_webhooks_are_stored_keyed_by_tracking_number(carriers: Carriers) -> None:
    assert carriers.post("aftership", fixture("aftership_tracking_update.json"))["status"] == "accepted"
    assert carriers.post("easypost", fixture("easypost_tracker_updated.json"))["status"] == "accepted"
    keys = [key for _, _, key, _ in carriers.sender.produced]
    assert [k.split(":")[0] for k in keys] == ["aftership", "easypost"]  # type: ignore[union-attr]
    raw = carriers.codec.decode(INTAKE, carriers.sender.produced[0][1] or b"")
    assert raw["body"] == fixture("aftership_tracking_update.json")


@pytest.mark.parametrize("body", [{"event": "tracking_update"}, {"msg": {"tracking_number": "x" * 201}}])
def test_a_carrier_webhook_naming_no_tracking_or_event_id_is_400(carriers: Carriers, body: dict) -> None:
    payload = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **SCHEMES["aftership"].sign(SECRET, payload)}
    response = carriers.client.post("/webhooks/aftership", content=payload, headers=headers)
    assert (response.status_code, response.json()["error"]) == (400, "malformed_body")
    assert "x" * 201 not in response.json()["message"]
    assert carriers.sender.produced == []


def test_aftership_order_name_is_looked_up_and_published_once(carriers: Carriers) -> None:
    body = fixture("aftership_tracking_update.json")
    carriers.post("aftership", body)
    carriers.post("aftership", body)
    carriers.post("aftership", body)
    run = carriers.interpret(2, 1)
    [record] = run.committed("shipments.tracking.v1")
    shipment = carriers.codec.decode(record.topic, record.value or b"")
    assert (record.key, shipment["order_id"]) == (ORDER, ORDER)
    assert shipment["message"] == "配達完了"
    assert len(run.committed("shipping-tracker.intake.changelog")) == 1


def test_webhooks_without_a_known_order_are_dead_lettered(carriers: Carriers) -> None:
    carriers.post("easypost", fixture("easypost_tracker_updated.json"))
    body = json.loads(fixture("aftership_tracking_update.json"))
    body["msg"]["order_id"] = "#9999"
    carriers.post("aftership", json.dumps(body, ensure_ascii=False).encode())
    event = json.loads(fixture("easypost_tracker_updated.json"))
    event["result"]["reference"] = "6120004415"
    event["id"] = "evt_other"
    carriers.post("easypost", json.dumps(event).encode())
    run = carriers.interpret(3)
    dead = run.committed("dlq.shipping-tracker")
    reasons = [dict(d.headers)["__connect.errors.exception.message"].decode() for d in dead]
    assert "no order reference" in reasons[0]
    assert reasons[1] == f"unknown order #9999: {SHOP} has no order with that name"
    assert [d.value for d in dead] == [v for _, v, _, _ in carriers.sender.produced[:2]], "the raw deliveries"
    [published] = run.committed("shipments.tracking.v1")
    assert published.key == ORDER
