"""Hostile bodies and a good one on one keep-alive connection to a real HTTP server: every request
gets its answer (400 for the hostile ones, never a 500 or a reset), and the connection stays the
same one throughout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bus.runtime.codec import JsonCodec
from bus.webhooks import Delivery, Endpoint, Publication, Publisher, Record, webhook_app
from bus.webhooks.server import HttpServer
from bus.webhooks.signatures import SCHEMES
from services.order_capture import shopify
from simulators import fixture
from tests.unit.webhooks.fakes import FakeDedupe, FakeSender

SECRET = "hush"
SHOP = "hanako-tea.myshopify.com"


def _interpret(delivery: Delivery) -> Publication:
    """Shopify ``orders/create`` mapped straight away (the mapping under test, not the wiring)."""
    order = shopify.order_placed(delivery.payload, SHOP, f"shopify:{SHOP}:{delivery.received_at}")
    return Publication((order.meta.event_id,), (Record("orders", order.order_id, order.to_avro(),
                                                       order.meta.event_id),))


class _Peers:
    """ASGI middleware noting each request's client address (one per TCP connection)."""

    def __init__(self, app: Any) -> None:
        self.app, self.seen = app, []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.seen.append(tuple(scope["client"]))
        await self.app(scope, receive, send)


@pytest.fixture
def served() -> Iterator[tuple[str, _Peers]]:
    publisher = Publisher(FakeSender(), JsonCodec(), FakeDedupe(), ack_timeout=0.5)
    endpoint = Endpoint("/webhooks/shopify", "shopify", _interpret, SecretStr(SECRET))
    app = webhook_app("test-capture", [endpoint], publisher, max_body_bytes=5 * 1024 * 1024)
    peers = _Peers(app)
    server = HttpServer(peers, name="keep-alive").start()
    try:
        yield server.url, peers
    finally:
        server.stop()


def _hostile() -> list[bytes]:
    good = json.loads(fixture("shopify_orders_create.json"))
    deep = b'{"id": 1, "note": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    return [deep,
            json.dumps({**good, "created_at": 10**20}).encode(),
            json.dumps({**good, "created_at": "9999-12-31T23:59:59-23:59"}).encode(),
            json.dumps({**good, "id": {"id": 1}}).encode(),
            json.dumps({**good, "customer": "Hanako Sato"}).encode()]


def _what(response: httpx.Response) -> str:
    if not response.headers.get("content-type", "").startswith("application/json"):
        return response.text[:40]
    answer = response.json()
    return str(answer.get("error") or answer.get("status"))


def test_hostile_bodies_then_a_good_one_on_one_connection_all_get_answers(served: tuple[str, _Peers]) -> None:
    url, peers = served
    answers = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for body in [*_hostile(), fixture("shopify_orders_create.json")]:
            headers = {"Content-Type": "application/json", **SCHEMES["shopify"].sign(SECRET, body)}
            response = client.post("/webhooks/shopify", content=body, headers=headers)
            answers.append((response.status_code, _what(response)))
    assert answers == [(400, "malformed_body")] * 5 + [(200, "published")]
    assert len(peers.seen) == 6 and len(set(peers.seen)) == 1, "one keep-alive connection throughout"
