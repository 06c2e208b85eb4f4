"""http_out, enrich and http_in with injected transports, producers and clocks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from bus.errors import PermanentError, TransientError
from bus.runtime.retry import RetryPolicy
from services.router.build import BuildContext
from services.router.endpoints.http_out import TokenBucket
from services.router.http_server import http_app
from services.router.ingest import InputRunner
from services.router.message import Message, Origin
from services.router.pipeline import RouteFailure, RouteRunner
from services.router.routes import parse_routes

ROUTES = """
routes:
  - name: to-erp
    from: {kafka: {topic: orders.placed.v1}}
    steps:
      - enrich: {base_url: "http://erp", path: "concat('/items/', sku)", target: item, cache_ttl_seconds: 60}
    to:
      - http_out: {base_url: "http://erp", path: /orders, format: json, auth: {bearer_env: ERP_TOKEN},
                   idempotency_key: id, retry: {max_attempts: 3, budget_seconds: 5}}
  - name: stock-in
    from: {http_in: {path: /erp/stock, signature: {header: X-Sig, secret_env: ERP_SECRET}}}
    steps: [{filter: "sku != 'SKIP'"}]
    to: [{kafka: {topic: stock.json.v1, format: json, key: sku}}]
"""


def _routes(handler: Any) -> Any:
    build = BuildContext(environ={"ERP_TOKEN": "t0ken", "ERP_SECRET": "s3cret"},
                         http_transport=httpx.MockTransport(handler), clock=lambda: 100.0)
    return parse_routes(ROUTES, Path("r.yaml"), build)


def test_http_out_retries_transient_failures_with_auth_and_enrich_caches() -> None:
    calls: list[httpx.Request] = []
    answers = iter([503, 503, 200])

    def erp(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path.startswith("/items/"):
            return httpx.Response(200, json={"name": "抹茶"})
        return httpx.Response(next(answers))

    route = _routes(erp).route("to-erp")
    for component in (*[s for _, s in route.all_steps()], *route.all_endpoints()):
        component.start()
    runner = RouteRunner(route)
    runner.handle(Message({"id": "e1", "sku": "MATCHA"}), Origin("t/0", 1), None)  # type: ignore[arg-type]
    posts = [c for c in calls if c.method == "POST"]
    assert len(posts) == 3
    assert posts[-1].headers["authorization"] == "Bearer t0ken"
    assert posts[-1].headers["idempotency-key"] == "e1"
    assert json.loads(posts[-1].content) == {"id": "e1", "sku": "MATCHA", "item": {"name": "抹茶"}}
    answers = iter([200])
    runner.handle(Message({"id": "e2", "sku": "MATCHA"}), Origin("t/0", 2), None)  # type: ignore[arg-type]
    assert len([c for c in calls if c.url.path == "/items/MATCHA"]) == 1, "the lookup was cached"


def test_http_out_failures_keep_their_kind_and_name_the_endpoint() -> None:
    status = [422]
    erp = _routes(lambda r: httpx.Response(200 if r.method == "GET" else status[0], json={}))
    route = erp.route("to-erp")
    runner = RouteRunner(route)
    with pytest.raises(RouteFailure) as permanent:
        runner.handle(Message({"id": "e1", "sku": "X"}), Origin(None, 1), None)  # type: ignore[arg-type]
    assert isinstance(permanent.value, PermanentError)
    assert (permanent.value.route, permanent.value.step) == ("to-erp", "to:http:POST /orders")
    status[0] = 503
    with pytest.raises(TransientError):
        runner.handle(Message({"id": "e1", "sku": "X"}), Origin(None, 1), None)  # type: ignore[arg-type]


def test_the_token_bucket_waits_for_tokens() -> None:
    now, slept = [0.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(per_second=2, burst=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        bucket.take()
    assert sum(slept) == pytest.approx(1.0)


class FakeProducer:
    """Acknowledges (or fails) every record at once."""

    def __init__(self, fail: bool = False) -> None:
        self.records: list[tuple[str, bytes, Any]] = []
        self.fail = fail

    def produce(self, topic: str, value: bytes, key: Any = None, headers: Any = None,
                on_delivery: Any = None) -> None:
        self.records.append((topic, value, key))
        on_delivery("broker down" if self.fail else None, None)


def _client(producer: FakeProducer) -> TestClient:
    route = _routes(lambda r: httpx.Response(200)).route("stock-in")
    from bus.runtime.codec import JsonCodec

    inputs = InputRunner(RouteRunner(route), JsonCodec(), RetryPolicy(max_attempts=1))
    return TestClient(http_app([(route.source, inputs)], producer))  # type: ignore[arg-type, list-item]


def _signed(body: bytes, secret: str = "s3cret") -> dict[str, str]:
    return {"X-Sig": base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()}


def test_http_in_verifies_limits_parses_and_answers_after_the_broker() -> None:
    producer = FakeProducer()
    client = _client(producer)
    body = json.dumps([{"sku": "A", "qty": 1}, {"sku": "SKIP"}, {"sku": "B"}]).encode()
    forged = client.post("/erp/stock", content=body, headers=_signed(body, "wrong"))
    assert (forged.status_code, forged.json()["error"]) == (401, "invalid_signature")
    malformed = client.post("/erp/stock", content=b"{not json", headers=_signed(b"{not json"))
    assert (malformed.status_code, malformed.json()["error"]) == (400, "malformed_body")
    assert "not well-formed JSON" in malformed.json()["message"]
    assert producer.records == []
    answer = client.post("/erp/stock", content=body, headers=_signed(body))
    assert (answer.status_code, answer.json()) == (202, {"accepted": 3, "dead_lettered": 0})
    assert [(t, json.loads(v), k) for t, v, k in producer.records] == [
        ("stock.json.v1", {"sku": "A", "qty": 1}, "A"), ("stock.json.v1", {"sku": "B"}, "B")]
    failing = _client(FakeProducer(fail=True))
    down = failing.post("/erp/stock", content=body, headers=_signed(body))
    assert (down.status_code, down.json()["error"], down.headers["Retry-After"]) == (503, "unavailable", "1")
