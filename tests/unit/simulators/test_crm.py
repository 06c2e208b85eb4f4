"""The HubSpot-like CRM simulator: upserts, validation, rate limit, partial and injected failures."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from simulators.crm import UPSERT_PATH, create_app


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _inputs(*emails: str, **props: Any) -> dict[str, Any]:
    return {"inputs": [{"id": e, "idProperty": "email", "properties": {"firstname": "花子", **props}}
                       for e in emails]}


def test_upsert_creates_then_updates_by_email() -> None:
    client = TestClient(create_app())
    first = client.post(UPSERT_PATH, json=_inputs("Hanako@Example.jp", ecombus_orders_count="1"))
    assert first.status_code == 200
    assert [r["new"] for r in first.json()["results"]] == [True]
    second = client.post(UPSERT_PATH, json=_inputs("hanako@example.jp", ecombus_orders_count="2"))
    assert [r["new"] for r in second.json()["results"]] == [False]
    contact = client.get("/crm/v3/objects/contacts/HANAKO@example.jp", params={"idProperty": "email"})
    assert contact.json()["properties"]["ecombus_orders_count"] == "2"
    assert contact.json()["properties"]["firstname"] == "花子"
    received = client.get("/_sim/received").json()
    assert len(received["requests"]) == 2 and list(received["contacts"]) == ["hanako@example.jp"]


def test_malformed_batches_are_rejected_whole() -> None:
    client = TestClient(create_app())
    too_many = _inputs(*[f"c{i}@example.com" for i in range(101)])
    assert client.post(UPSERT_PATH, json=too_many).status_code == 400
    not_string = _inputs("a@example.com", ecombus_orders_count=3)
    response = client.post(UPSERT_PATH, json=not_string)
    assert response.status_code == 400
    assert "must be strings" in response.json()["message"]
    wrong_id = {"inputs": [{"id": "a@example.com", "idProperty": "hs_object_id", "properties": {}}]}
    assert client.post(UPSERT_PATH, json=wrong_id).status_code == 400
    assert client.get("/_sim/received").json()["contacts"] == {}


def test_rolling_rate_limit_answers_429_like_hubspot() -> None:
    clock = FakeClock()
    client = TestClient(create_app(limit=3, interval=10.0, clock=clock))
    codes = [client.post(UPSERT_PATH, json=_inputs("a@example.com")).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    throttled = client.post(UPSERT_PATH, json=_inputs("a@example.com"))
    assert throttled.json()["errorType"] == "RATE_LIMIT"
    assert throttled.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert throttled.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    clock.now += 10.0
    assert client.post(UPSERT_PATH, json=_inputs("a@example.com")).status_code == 200
    assert client.get("/_sim/received").json()["throttled"] == 2


def test_partial_failure_rejects_only_the_named_contact() -> None:
    client = TestClient(create_app())
    client.post("/_sim/reject", params={"email": "bad@example.com"})
    response = client.post(UPSERT_PATH, json=_inputs("ok@example.com", "bad@example.com", "ok2@example.com"))
    assert response.status_code == 207
    body = response.json()
    assert sorted(r["properties"]["email"] for r in body["results"]) == ["ok2@example.com", "ok@example.com"]
    assert [e["context"]["ids"] for e in body["errors"]] == [["bad@example.com"]]
    assert sorted(client.get("/_sim/received").json()["contacts"]) == ["ok2@example.com", "ok@example.com"]


def test_whole_batch_rejection_and_injected_failures() -> None:
    client = TestClient(create_app())
    client.post("/_sim/reject", params={"email": "bad@example.com", "whole_batch": "true"})
    response = client.post(UPSERT_PATH, json=_inputs("ok@example.com", "bad@example.com"))
    assert response.status_code == 400 and response.json()["context"]["ids"] == ["bad@example.com"]
    client.post("/_sim/reset")
    client.post("/_sim/fail", params={"status": 503, "count": 2})
    codes = [client.post(UPSERT_PATH, json=_inputs("ok@example.com")).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
