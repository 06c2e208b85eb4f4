"""Hostile bodies and a good one on one keep-alive connection to a real HTTP server: every request
gets its answer (400 for those the edge can tell are malformed, 200 for those it stores for the
intake stage to dead-letter; never a 500 or a reset), and the connection stays the same one
throughout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bus.runtime.codec import JsonCodec
from bus.webhooks import Endpoint, IntakeLog, webhook_app
from bus.webhooks.server import HttpServer
from bus.webhooks.signatures import SCHEMES
from services.order_capture.handlers import Identities
from simulators import fixture
from tests.unit.webhooks.fakes import FakeSender

SECRET = "hush"
SHOP = "hanako-tea.myshopify.com"


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
    intake = IntakeLog(FakeSender(), JsonCodec(), "intake", "test-capture", ack_timeout=0.5)
    endpoint = Endpoint("/webhooks/shopify", "shopify", Identities.shopify, SecretStr(SECRET))
    app = webhook_app("test-capture", [endpoint], intake, max_body_bytes=5 * 1024 * 1024)
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
            headers = {"Content-Type": "application/json", "X-Shopify-Shop-Domain": SHOP,
                       **SCHEMES["shopify"].sign(SECRET, body)}
            response = client.post("/webhooks/shopify", content=body, headers=headers)
            answers.append((response.status_code, _what(response)))
    malformed, stored = (400, "malformed_body"), (200, "accepted")
    assert answers == [malformed, stored, stored, malformed, stored, stored]
    assert len(peers.seen) == 6 and len(set(peers.seen)) == 1, "one keep-alive connection throughout"
