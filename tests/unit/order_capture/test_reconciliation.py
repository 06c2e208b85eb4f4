"""Reconciliation: orders whose webhook never arrived are backfilled once; the cursor moves on."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest

from bus.errors import Unavailable
from bus.http import ApiClient
from bus.serde import AvroCodec
from bus.webhooks import Publisher
from services.order_capture.handlers import OrderCapture, Topics, placed_key
from services.order_capture.reconciliation import Reconciler
from simulators import fixture
from tests.unit.serde.fake_registry import FakeRegistry
from tests.unit.webhooks.fakes import FakeDedupe, FakeSender

SHOP = "hanako-tea.myshopify.com"
NOW = datetime(2025, 6, 3, 12, 0, tzinfo=UTC).timestamp()


class FakeCursors:
    def __init__(self, value: str | None = None) -> None:
        self.values = {} if value is None else {f"shopify:{SHOP}": value}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def put(self, name: str, value: str) -> None:
        self.values[name] = value


def _orders() -> list[dict]:
    fixture_order = json.loads(fixture("shopify_orders_create.json"))
    missed = {**fixture_order, "id": 6120004999, "name": "#1099", "created_at": "2025-06-03T11:00:00Z"}
    ancient = {**fixture_order, "id": 5000000001, "name": "#7", "created_at": "2025-04-01T00:00:00Z",
               "updated_at": "2025-06-03T11:30:00Z"}
    return [fixture_order, missed, ancient]


def _api(requests: list[httpx.Request]) -> ApiClient:
    orders = _orders()

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if "page_info" in request.url.params:
            return httpx.Response(200, json={"orders": orders[2:]})
        link = '<https://shop.test/admin/api/2024-10/orders.json?page_info=p2&limit=250>; rel="next"'
        return httpx.Response(200, json={"orders": orders[:2]}, headers={"Link": link})

    return ApiClient("shopify", "https://shop.test", transport=httpx.MockTransport(answer))


def _reconciler(requests: list[httpx.Request], dedupe: FakeDedupe, sender: FakeSender,
                cursors: FakeCursors) -> Reconciler:
    publisher = Publisher(sender, AvroCodec(FakeRegistry().client()), dedupe, ack_timeout=0.5)
    return Reconciler(_api(requests), SHOP, OrderCapture(Topics()), publisher, cursors,  # type: ignore
                      overlap=120, lookback=3600, max_age=7 * 86400, clock=lambda: NOW)


def test_backfills_only_the_order_whose_webhook_never_arrived() -> None:
    requests: list[httpx.Request] = []
    dedupe = FakeDedupe({placed_key(f"shopify:{SHOP}:6120004415")})  # its webhook arrived
    sender, cursors = FakeSender(), FakeCursors()
    done = asyncio.run(_reconciler(requests, dedupe, sender, cursors).run_once())
    assert done.window == ("2025-06-03T11:00:00Z", "2025-06-03T12:00:00Z"), "lookback without a cursor"
    assert (done.listed, done.backfilled) == (3, [f"shopify:{SHOP}:6120004999"])
    assert done.skipped == [f"shopify:{SHOP}:5000000001"], "created before the dedupe store remembers"
    assert [t for t, *_ in sender.produced] == ["orders.placed.v1", "customers.profiles.v1"]
    assert cursors.values == {f"shopify:{SHOP}": "2025-06-03T12:00:00Z"}
    first = requests[0].url.params
    assert (first["updated_at_min"], first["updated_at_max"], first["status"]) == (
        "2025-06-03T11:00:00Z", "2025-06-03T12:00:00Z", "any")
    assert requests[1].url.params["page_info"] == "p2"

    again = asyncio.run(_reconciler(requests, dedupe, sender, cursors).run_once())
    assert again.backfilled == [] and len(sender.produced) == 2, "nothing is backfilled twice"
    assert again.window[0] == "2025-06-03T11:58:00Z", "the next window starts at cursor minus overlap"


def test_the_cursor_stays_when_the_broker_does_not_store() -> None:
    sender, cursors = FakeSender(failing={"orders.placed.v1"}), FakeCursors("2025-06-03T11:00:00Z")
    reconciler = _reconciler([], FakeDedupe(), sender, cursors)
    with pytest.raises(Unavailable, match="did not store"):
        asyncio.run(reconciler.run_once())
    assert cursors.values == {f"shopify:{SHOP}": "2025-06-03T11:00:00Z"}
