"""The webhook app over HTTP: every refusal's status and JSON body, pings, the intake write, metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from bus.errors import InvalidInput
from bus.observability.health import Health
from bus.observability.metrics import RuntimeMetrics
from bus.runtime.codec import JsonCodec
from bus.webhooks import Delivery, Endpoint, Identity, IntakeLog, webhook_app
from bus.webhooks.signatures import SCHEMES
from bus.webhooks.tenants import Tenant, Tenants
from tests.unit.webhooks.fakes import FakeSender

SECRET = "hush"
INTAKE = "intake.test.v1"


def _identify(delivery: Delivery) -> Identity:
    payload = delivery.payload
    if payload.get("kind") == "bad-amount":
        raise InvalidInput("total_price is not a decimal amount", field="total_price")
    if payload.get("kind") == "bad-value":
        raise ValueError(f"cannot use {payload['email']}")
    shop = str(payload.get("shop", "shop.test"))
    return Identity(shop, f"{delivery.platform}:{shop}:{payload['id']}", "orders/create")


@dataclass
class World:
    client: TestClient
    sender: FakeSender
    registry: CollectorRegistry

    def count(self, outcome: str, platform: str = "shopify") -> float:
        return self.registry.get_sample_value("ecombus_webhook_requests_total", {
            "service": "test-capture", "platform": platform, "outcome": outcome}) or 0.0


def _world(tenants: Tenants | None = None) -> Iterator[World]:
    sender, registry = FakeSender(), CollectorRegistry()
    intake = IntakeLog(sender, JsonCodec(), INTAKE, "test-capture", ack_timeout=0.5)
    endpoints = [Endpoint("/webhooks/shopify", "shopify", _identify, SecretStr(SECRET)),
                 Endpoint("/webhooks/woocommerce", "woocommerce", _identify, SecretStr(SECRET),
                          ping=lambda form: set(form) == {"webhook_id"}),
                 Endpoint("/webhooks/aftership", "aftership", _identify, None)]
    app = webhook_app("test-capture", endpoints, intake, max_body_bytes=1024,
                      metrics=RuntimeMetrics("test-capture", registry), health=Health(), tenants=tenants)
    with TestClient(app) as client:
        yield World(client, sender, registry)


@pytest.fixture
def world() -> Iterator[World]:
    yield from _world()


def _post(client: TestClient, body: bytes, path: str = "/webhooks/shopify", secret: str = SECRET,
          content_type: str = "application/json", platform: str = "shopify") -> tuple[int, dict]:
    headers = {"Content-Type": content_type, **SCHEMES[platform].sign(secret, body)}
    response = client.post(path, content=body, headers=headers)
    return response.status_code, response.json()


def test_a_signed_delivery_is_stored_as_it_came_and_answered_after_the_ack(world: World) -> None:
    body = json.dumps({"id": 7, "name": "花子"}, ensure_ascii=False).encode()
    status, answer = _post(world.client, body)
    assert (status, answer["status"]) == (200, "accepted")
    [(topic, value, key, _)] = world.sender.produced
    stored = json.loads(value or b"")
    assert (topic, key, stored["identity"]) == (INTAKE, "shopify:shop.test:7", "shopify:shop.test:7")
    assert stored["meta"]["event_id"] == answer["delivery_id"]
    assert stored["channel"] == "webhook"  # the body's bytes as stored: tests/unit/webhooks/test_intake.py
    assert world.count("accepted") == 1.0


@pytest.mark.parametrize(("body", "kwargs", "status", "code"), [
    (b'{"id": 1}', {"secret": "wrong"}, 401, "invalid_signature"),
    (b"[1]", {}, 400, "malformed_body"),
    (b'{"name": "no id"}', {}, 400, "malformed_body"),
    (b'{"id": 1}', {"content_type": "text/plain"}, 415, "unsupported_media_type"),
    (b'{"id": 1, "pad": "' + b"x" * 2000 + b'"}', {}, 413, "payload_too_large"),
    (b'{"id": 1}', {"path": "/webhooks/aftership", "platform": "aftership"}, 401, "invalid_signature"),
])
def test_refusals_answer_json_and_store_nothing(world: World, body: bytes, kwargs: dict, status: int,
                                                code: str) -> None:
    got_status, got = _post(world.client, body, **kwargs)
    assert (got_status, got["error"]) == (status, code)
    assert got["message"]
    assert world.sender.produced == []


def test_missing_signature_is_401(world: World) -> None:
    response = world.client.post("/webhooks/shopify", content=b'{"id": 1}',
                                 headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()["message"]) == (401, "missing x-shopify-hmac-sha256 header")
    assert world.count("unauthorized") == 1.0
    assert world.sender.produced == []


def test_unsigned_woocommerce_ping_is_answered_200_and_not_stored(world: World) -> None:
    response = world.client.post("/webhooks/woocommerce", content=b"webhook_id=15",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (response.status_code, response.json()) == (200, {"status": "ping"})
    other_form = world.client.post("/webhooks/woocommerce", content=b"order=1",
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert other_form.status_code == 415
    assert world.sender.produced == []
    assert world.count("ping", "woocommerce") == 1.0


def test_a_broker_that_does_not_acknowledge_is_503_with_retry_after(world: World) -> None:
    world.sender.failing.add(INTAKE)
    body = b'{"id": 9}'
    response = world.client.post("/webhooks/shopify", content=body, headers={
        "Content-Type": "application/json", **SCHEMES["shopify"].sign(SECRET, body)})
    assert (response.status_code, response.json()["error"]) == (503, "unavailable")
    assert response.headers["Retry-After"] == "1"
    assert world.sender.produced == [] and world.count("unavailable") == 1.0


def test_invalid_input_of_identify_is_400_with_its_message(world: World) -> None:
    status, body = _post(world.client, b'{"id": 3, "kind": "bad-amount"}')
    assert (status, body) == (400, {"error": "malformed_body",
                                    "message": "total_price is not a decimal amount"})
    assert world.sender.produced == [] and world.count("malformed") == 1.0


def test_a_built_in_error_of_identify_is_400_without_quoting_the_value(world: World) -> None:
    status, body = _post(world.client, b'{"id": 4, "kind": "bad-value", "email": "hanako@example.jp"}')
    assert (status, body["error"]) == (400, "malformed_body")
    assert "ValueError" in body["message"] and "hanako@example.jp" not in body["message"]
    assert world.sender.produced == []


def test_with_tenants_configured_the_identified_tenant_must_be_one() -> None:
    for world in _world(Tenants([Tenant(platform="shopify", domain="Shop.Test")], "TEST_SHOPS")):
        assert _post(world.client, b'{"id": 1, "shop": "shop.test"}')[0] == 200, "compared case-insensitively"
        status, body = _post(world.client, b'{"id": 2, "shop": "intruder.test"}')
        assert (status, body["error"]) == (403, "unknown_tenant")
        assert "TEST_SHOPS" in body["message"] and "intruder.test" not in body["message"]
        assert world.count("forbidden") == 1.0
        assert [key for _, _, key, _ in world.sender.produced] == ["shopify:shop.test:1"]
