"""The storefront simulator: Shopify's rate limit, the APIs other services call, faults, webhooks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi.testclient import TestClient

from bus.errors import Unauthorized
from bus.webhooks.signatures import SCHEMES, lower_headers
from simulators import fixture
from simulators.storefront import StorefrontConfig, create_app
from simulators.storefront.orders import PROFILES, generated_order
from simulators.storefront.ratelimit import LeakyBucket

ADMIN = "/admin/api/2024-10"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Receiver:
    """Where the simulator's webhooks land (an httpx MockTransport)."""

    requests: list[httpx.Request] = field(default_factory=list)
    status: int = 200

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json={"status": "published"})


@dataclass
class Store:
    client: TestClient
    receiver: Receiver
    clock: Clock
    config: StorefrontConfig


@pytest.fixture
def store() -> Iterator[Store]:
    clock, receiver = Clock(), Receiver()
    config = StorefrontConfig(webhook_urls={p: f"http://capture.test/webhooks/{p}"
                                            for p in ("shopify", "woocommerce", "bigcommerce")})
    app = create_app(config, bucket=LeakyBucket(40, 2.0, clock=clock),
                     webhook_client=httpx.AsyncClient(transport=httpx.MockTransport(receiver.handle)))
    with TestClient(app) as client:
        yield Store(client, receiver, clock, config)


def test_leaky_bucket_refuses_the_41st_call_until_it_drained() -> None:
    clock = Clock()
    bucket = LeakyBucket(40, 2.0, clock=clock)
    decisions = [bucket.take() for _ in range(41)]
    assert all(d.allowed for d in decisions[:40]) and decisions[39].header == "40/40"
    assert (decisions[40].allowed, decisions[40].retry_after) == (False, 0.5)
    clock.now += 0.5
    assert bucket.take().allowed
    clock.now += 100
    assert bucket.take().header == "1/40"


def test_admin_api_is_rate_limited_with_retry_after_and_call_limit_header(store: Store) -> None:
    store.client.post("/_sim/ratelimit", json={"capacity": 3, "leak_per_second": 1})
    answers = [store.client.get(f"{ADMIN}/orders/1.json") for _ in range(4)]
    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    assert [a.headers["X-Shopify-Shop-Api-Call-Limit"] for a in answers] == ["1/3", "2/3", "3/3", "3/3"]
    assert answers[3].headers["Retry-After"] == "1"
    store.clock.now += 1
    assert store.client.get(f"{ADMIN}/orders/1.json").status_code == 404


def test_orders_are_listed_by_update_window_with_cursor_pages(store: Store) -> None:
    for number in (1, 2, 3):
        store.client.post("/_sim/orders", json={"profile": "us", "number": number, "deliver": False})
    listed = store.client.get(f"{ADMIN}/orders.json", params={
        "updated_at_min": "2000-01-01T00:00:00Z", "updated_at_max": "2100-01-01T00:00:00Z",
        "status": "any", "limit": 2})
    assert [o["name"] for o in listed.json()["orders"]] == ["#1", "#2"]
    next_url = listed.links["next"]["url"]
    assert "page_info=" in next_url and "updated_at_min" not in next_url
    rest = store.client.get(next_url)
    assert [o["name"] for o in rest.json()["orders"]] == ["#3"] and "link" not in rest.headers
    none = store.client.get(f"{ADMIN}/orders.json", params={"updated_at_max": "2000-01-01T00:00:00Z"})
    assert none.json() == {"orders": []}
    one = store.client.get(f"{ADMIN}/orders/{generated_order(2, 'us')['id']}.json").json()["order"]
    assert one["name"] == "#2"


def test_inventory_levels_set_adjust_and_read(store: Store) -> None:
    item, location = 808950810, 655441491
    set_answer = store.client.post(f"{ADMIN}/inventory_levels/set.json",
                                   json={"location_id": location, "inventory_item_id": item, "available": 7})
    assert set_answer.json()["inventory_level"]["available"] == 7
    adjusted = store.client.post(f"{ADMIN}/inventory_levels/adjust.json", json={
        "location_id": location, "inventory_item_id": item, "available_adjustment": -2})
    assert adjusted.json()["inventory_level"]["available"] == 5
    levels = store.client.get(f"{ADMIN}/inventory_levels.json",
                              params={"inventory_item_ids": f"{item},808950811", "location_ids": location})
    assert [(lv["inventory_item_id"], lv["available"]) for lv in levels.json()["inventory_levels"]] == [
        (item, 5), (808950811, 100)]
    bad = store.client.post(f"{ADMIN}/inventory_levels/set.json", json={"location_id": location})
    assert bad.status_code == 422
    counts = store.client.get("/_sim/received").json()["counts"]
    assert counts[f"POST {ADMIN}/inventory_levels/set.json"] == 2
    assert counts[f"POST {ADMIN}/inventory_levels/adjust.json"] == 1


def test_fulfillments_are_recorded_for_known_orders_only(store: Store) -> None:
    store.client.post("/_sim/orders", json={"deliver": False})
    body = {"fulfillment": {"tracking_number": "1Z999AA10123456784", "tracking_url": "https://ups.test/1Z",
                            "tracking_company": "UPS", "notify_customer": False}}
    created = store.client.post(f"{ADMIN}/orders/6120004415/fulfillments.json", json=body)
    assert created.status_code == 201 and created.json()["fulfillment"]["tracking_company"] == "UPS"
    assert store.client.post(f"{ADMIN}/orders/1/fulfillments.json", json=body).status_code == 404
    received = store.client.get("/_sim/received").json()
    assert [(f["order_id"], f["tracking_number"]) for f in received["fulfillments"]] == [
        (6120004415, "1Z999AA10123456784")]
    assert received["counts"][f"POST {ADMIN}/orders/{{order_id}}/fulfillments.json"] == 2


def test_injected_faults_and_the_bigcommerce_orders_api(store: Store) -> None:
    store.client.post("/_sim/orders", json={"platform": "bigcommerce", "deliver": False})
    store.client.post("/_sim/faults", json={"status": 503, "count": 1, "path_prefix": "/stores"})
    assert store.client.get("/stores/abc123/v2/orders/250").status_code == 503
    order = store.client.get("/stores/abc123/v2/orders/250")
    assert (order.status_code, order.json()["billing_address"]["first_name"]) == (200, "Siobhán")
    assert order.json()["total_inc_tax"] == "51.9900"
    assert store.client.get("/stores/abc123/v2/orders/9").status_code == 404


def test_api_token_is_checked_when_configured() -> None:
    app = create_app(StorefrontConfig(api_token="shpat_demo"))
    with TestClient(app) as client:
        assert client.get(f"{ADMIN}/orders/1.json").status_code == 401
        assert client.get(f"{ADMIN}/orders/1.json", headers={"X-Shopify-Access-Token": "shpat_demo"}
                          ).status_code == 404


def test_fixture_webhook_is_sent_as_exact_bytes_signed_like_shopify(store: Store) -> None:
    answer = store.client.post("/_sim/orders", json={"platform": "shopify", "event_id": "evt-42"}).json()
    assert answer["delivery"]["status"] == 200
    [request] = store.receiver.requests
    assert request.content == fixture("shopify_orders_create.json")
    headers = lower_headers(request.headers.items())
    SCHEMES["shopify"].verify(store.config.secrets["shopify"], request.content, headers)
    assert (headers["x-shopify-topic"], headers["x-shopify-event-id"]) == ("orders/create", "evt-42")
    assert headers["x-shopify-shop-domain"] == "hanako-tea.myshopify.com"

    store.client.post("/_sim/redeliver", json={})
    retry = lower_headers(store.receiver.requests[1].headers.items())
    assert retry["x-shopify-event-id"] == "evt-42"
    assert retry["x-shopify-webhook-id"] != headers["x-shopify-webhook-id"]
    assert store.receiver.requests[1].content == request.content


def _verify(store: Store, platform: str, request: httpx.Request) -> None:
    headers = lower_headers(request.headers.items())
    SCHEMES[platform].verify(store.config.secrets[platform], request.content, headers)


def test_bad_signature_drops_and_other_platforms(store: Store) -> None:
    store.client.post("/_sim/orders", json={"profile": "kw", "number": 5, "bad_signature": True})
    bad = store.receiver.requests[-1]
    with pytest.raises(Unauthorized):
        _verify(store, "shopify", bad)
    assert json.loads(bad.content)["currency"] == "KWD"
    dropped = store.client.post("/_sim/orders", json={"profile": "de", "number": 6, "drop": True}).json()
    assert dropped["delivery"]["dropped"] is True and len(store.receiver.requests) == 1
    store.client.post("/_sim/faults", json={"drop_webhooks": 1})
    lost = store.client.post("/_sim/orders", json={"profile": "cn", "number": 7}).json()
    assert lost["delivery"]["dropped"]

    store.client.post("/_sim/orders", json={"platform": "woocommerce", "number": 728})
    woo = store.receiver.requests[-1]
    _verify(store, "woocommerce", woo)
    assert json.loads(woo.content)["id"] == 728
    store.client.post("/_sim/orders", json={"platform": "bigcommerce", "number": 251})
    big = store.receiver.requests[-1]
    _verify(store, "bigcommerce", big)
    assert json.loads(big.content)["data"] == {"type": "order", "id": 251}
    assert store.client.get("/stores/abc123/v2/orders/251").json()["id"] == 251


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_generated_orders_add_up_in_their_currency(profile: str) -> None:
    from decimal import Decimal

    order = generated_order(11, profile)
    lines = sum(Decimal(ln["price"]) * ln["quantity"] for ln in order["line_items"])
    assert Decimal(order["subtotal_price"]) == lines
    assert Decimal(order["total_price"]) == lines + Decimal(order["total_tax"])
    places = {"JPY": 0, "KWD": 3}.get(order["currency"], 2)
    assert -Decimal(order["total_price"]).as_tuple().exponent == places
