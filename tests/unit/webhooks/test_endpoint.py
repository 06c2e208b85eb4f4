"""The webhook app over HTTP: every refusal's status and JSON body, pings, dead letters, metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from bus.errors import InvalidInput, PermanentError, TransientError
from bus.observability.health import Health
from bus.observability.metrics import RuntimeMetrics
from bus.runtime.codec import JsonCodec
from bus.webhooks import Delivery, Endpoint, Publication, Publisher, Record, webhook_app
from bus.webhooks.signatures import SCHEMES
from tests.unit.webhooks.fakes import FakeDedupe, FakeSender

SECRET = "hush"


def _interpret(delivery: Delivery) -> Publication:
    payload = delivery.payload
    if payload.get("kind") == "unknown-order":
        raise PermanentError("unknown order 42")
    if payload.get("kind") == "api-down":
        raise TransientError("storefront API answered 503")
    if payload.get("kind") == "ignored":
        return Publication.ignored("not interesting")
    if payload.get("kind") == "bad-amount":
        raise InvalidInput("total_price is not a decimal amount", field="total_price")
    if payload.get("kind") == "bad-value":
        raise ValueError(f"cannot use {payload['email']}")
    return Publication((f"evt:{payload['id']}",), (Record("orders", str(payload["id"]), dict(payload),
                                                          f"evt:{payload['id']}"),))


@pytest.fixture
def world() -> Iterator[tuple[TestClient, FakeSender, CollectorRegistry]]:
    sender, registry = FakeSender(), CollectorRegistry()
    publisher = Publisher(sender, JsonCodec(), FakeDedupe(), ack_timeout=0.5)
    endpoints = [Endpoint("/webhooks/shopify", "shopify", _interpret, SecretStr(SECRET)),
                 Endpoint("/webhooks/woocommerce", "woocommerce", _interpret, SecretStr(SECRET),
                          ping=lambda form: set(form) == {"webhook_id"}),
                 Endpoint("/webhooks/aftership", "aftership", _interpret, None)]
    app = webhook_app("test-capture", endpoints, publisher, max_body_bytes=1024,
                      metrics=RuntimeMetrics("test-capture", registry), health=Health())
    with TestClient(app) as client:
        yield client, sender, registry


def _post(client: TestClient, body: bytes, path: str = "/webhooks/shopify", secret: str = SECRET,
          content_type: str = "application/json", platform: str = "shopify") -> tuple[int, dict]:
    headers = {"Content-Type": content_type, **SCHEMES[platform].sign(secret, body)}
    response = client.post(path, content=body, headers=headers)
    return response.status_code, response.json()


def _count(registry: CollectorRegistry, outcome: str, platform: str = "shopify") -> float:
    return registry.get_sample_value("ecombus_webhook_requests_total", {
        "service": "test-capture", "platform": platform, "outcome": outcome}) or 0.0


def test_a_signed_delivery_is_published_once(world: tuple[TestClient, FakeSender, CollectorRegistry]) -> None:
    client, sender, registry = world
    body = json.dumps({"id": 7, "name": "花子"}, ensure_ascii=False).encode()
    assert _post(client, body) == (200, {"status": "published", "event_ids": ["evt:7"]})
    assert _post(client, body) == (200, {"status": "duplicate", "event_ids": ["evt:7"]})
    assert len(sender.produced) == 1
    assert (_count(registry, "published"), _count(registry, "duplicate")) == (1.0, 1.0)


@pytest.mark.parametrize(("body", "kwargs", "status", "code"), [
    (b'{"id": 1}', {"secret": "wrong"}, 401, "invalid_signature"),
    (b"[1]", {}, 400, "malformed_body"),
    (b'{"name": "no id"}', {}, 400, "malformed_body"),
    (b'{"id": 1}', {"content_type": "text/plain"}, 415, "unsupported_media_type"),
    (b'{"id": 1, "pad": "' + b"x" * 2000 + b'"}', {}, 413, "payload_too_large"),
    (b'{"id": 1}', {"path": "/webhooks/aftership", "platform": "aftership"}, 401, "invalid_signature"),
])
def test_refusals_answer_json_and_publish_nothing(world: tuple[TestClient, FakeSender, CollectorRegistry],
                                                  body: bytes, kwargs: dict, status: int, code: str) -> None:
    client, sender, _ = world
    got_status, got = _post(client, body, **kwargs)
    assert (got_status, got["error"]) == (status, code)
    assert got["message"]
    assert sender.produced == []


def test_missing_signature_is_401(world: tuple[TestClient, FakeSender, CollectorRegistry]) -> None:
    client, sender, registry = world
    response = client.post("/webhooks/shopify", content=b'{"id": 1}',
                           headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()["message"]) == (401, "missing x-shopify-hmac-sha256 header")
    assert _count(registry, "unauthorized") == 1.0
    assert sender.produced == []


def test_unsigned_woocommerce_ping_is_answered_200_and_not_published(
        world: tuple[TestClient, FakeSender, CollectorRegistry]) -> None:
    client, sender, registry = world
    response = client.post("/webhooks/woocommerce", content=b"webhook_id=15",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (response.status_code, response.json()) == (200, {"status": "ping"})
    other_form = client.post("/webhooks/woocommerce", content=b"order=1",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert other_form.status_code == 415
    assert sender.produced == []
    assert _count(registry, "ping", "woocommerce") == 1.0


def test_permanent_failure_is_dead_lettered_with_the_reason(
        world: tuple[TestClient, FakeSender, CollectorRegistry]) -> None:
    client, sender, _ = world
    body = b'{"kind": "unknown-order"}'
    assert _post(client, body) == (200, {"status": "dead_lettered", "reason": "unknown order 42"})
    [(topic, value, _key, headers)] = sender.produced
    names = dict(headers)
    assert (topic, value) == ("dlq.test-capture", body)
    assert names["__connect.errors.exception.message"] == b"unknown order 42"
    assert names["__connect.errors.topic"] == b"http:/webhooks/shopify"
    assert names["x-shopify-hmac-sha256"], "the original headers are kept"


def test_transient_failures_are_503_with_retry_after(
        world: tuple[TestClient, FakeSender, CollectorRegistry]) -> None:
    client, sender, _ = world
    body = b'{"kind": "api-down"}'
    response = client.post("/webhooks/shopify", content=body, headers={
        "Content-Type": "application/json", **SCHEMES["shopify"].sign(SECRET, body)})
    assert (response.status_code, response.json()["error"]) == (503, "unavailable")
    assert response.headers["Retry-After"] == "1"
    sender.failing.add("orders")
    assert _post(client, b'{"id": 9}')[0] == 503
    assert sender.produced == []


def test_ignored_events_are_200_with_a_note(world: tuple[TestClient, FakeSender, CollectorRegistry]) -> None:
    client, sender, _ = world
    assert _post(client, b'{"kind": "ignored"}') == (
        200, {"status": "ignored", "event_ids": [], "note": "not interesting"})
    assert sender.produced == []


def test_invalid_input_from_the_mapping_is_refused_not_dead_lettered(
        world: tuple[TestClient, FakeSender, CollectorRegistry]) -> None:
    client, sender, registry = world
    status, body = _post(client, b'{"id": 3, "kind": "bad-amount"}')
    assert (status, body) == (400, {"error": "malformed_body",
                                    "message": "total_price is not a decimal amount"})
    assert sender.produced == [] and _count(registry, "malformed") == 1.0


def test_a_built_in_error_of_the_mapping_is_400_without_quoting_the_value(
        world: tuple[TestClient, FakeSender, CollectorRegistry]) -> None:
    client, sender, _registry = world
    status, body = _post(client, b'{"id": 4, "kind": "bad-value", "email": "hanako@example.jp"}')
    assert (status, body["error"]) == (400, "malformed_body")
    assert "ValueError" in body["message"] and "hanako@example.jp" not in body["message"]
    assert sender.produced == []
