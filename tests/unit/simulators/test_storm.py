"""Downstream storms of the simulators: 5xx, 429 with Retry-After, slow; bounded; controls exempt."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from simulators.crm import UPSERT_PATH
from simulators.crm import create_app as crm_app
from simulators.erp import erp_app
from simulators.storefront import StorefrontConfig
from simulators.storefront import create_app as storefront_app
from simulators.storm import Weather

UPSERT = {"inputs": [{"id": "a@example.com", "idProperty": "email", "properties": {"firstname": "A"}}]}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_storm_ends_by_itself_and_a_new_one_replaces_it() -> None:
    clock = Clock()
    weather = Weather(clock=clock, wall=lambda: 1.7e9)
    weather.forecast("5xx", 10, status=502)
    assert weather.now() is not None and weather.now().status == 502  # type: ignore[union-attr]
    weather.forecast("429", 5)
    assert weather.now().mode == "429" and weather.now().status == 429  # type: ignore[union-attr]
    clock.now += 5
    assert weather.now() is None
    assert [s["mode"] for s in weather.snapshot()["history"]] == ["5xx", "429"]


@pytest.mark.parametrize(("mode", "seconds", "status"), [("hail", 5, None), ("5xx", 0, None),
                                                         ("5xx", 601, None), ("5xx", 5, 404)])
def test_a_storm_out_of_bounds_is_refused(mode: str, seconds: float, status: int | None) -> None:
    with pytest.raises(ValueError):
        Weather().forecast(mode, seconds, status=status)  # type: ignore[arg-type]


def test_the_crm_answers_5xx_then_429_like_hubspot_and_works_again_after() -> None:
    client = TestClient(crm_app())
    assert client.post("/_sim/storm", json={"mode": "5xx", "seconds": 30}).status_code == 200
    failed = client.post(UPSERT_PATH, json=UPSERT)
    assert failed.status_code == 503 and failed.json()["category"] == "INTERNAL_ERROR"
    client.post("/_sim/storm", json={"mode": "429", "seconds": 30, "retry_after": 2})
    throttled = client.post(UPSERT_PATH, json=UPSERT)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
    assert throttled.json()["errorType"] == "RATE_LIMIT"
    assert client.get("/_sim/received").status_code == 200, "its controls answer during a storm"
    client.app.state.weather._until = 0.0  # type: ignore[attr-defined]  # the storm is over
    assert client.post(UPSERT_PATH, json=UPSERT).status_code == 200
    state = client.get("/_sim/storm").json()
    assert state["storm"] is None and state["answers"] == {"503": 1, "429": 1, "ok": 1}
    assert state["last_ok_at"] > 0


def test_the_erp_answers_cxml_errors_and_a_slow_storm_delays_without_failing() -> None:
    client = TestClient(erp_app(None))
    client.post("/_sim/storm", json={"mode": "5xx", "seconds": 30, "status": 500})
    refused = client.post("/cxml/orders", content=b"<cXML/>")
    assert refused.status_code == 500 and b"simulated storm" in refused.content
    client.post("/_sim/storm", json={"mode": "slow", "seconds": 30, "latency_seconds": 0.2})
    began = time.monotonic()
    assert client.get("/readyz").status_code == 200 and time.monotonic() - began < 0.2, "readyz exempt"
    began = time.monotonic()
    assert client.post("/cxml/orders", content=b"<cXML/>").status_code == 400  # answered, late
    assert time.monotonic() - began >= 0.2


def test_the_storefront_api_storms_but_its_controls_and_webhooks_do_not() -> None:
    client = TestClient(storefront_app(StorefrontConfig()))
    assert client.post("/_sim/storm", json={"mode": "429", "seconds": 30}).status_code == 200
    listed = client.get("/admin/api/2024-10/orders.json")
    assert listed.status_code == 429 and listed.headers["Retry-After"] == "1"
    assert client.get("/_sim/received").status_code == 200
    assert client.post("/_sim/storm", json={"mode": "drizzle"}).status_code == 422
