"""The storefront client: absolute sets, Shopify's bucket mirrored, 429 transient with Retry-After."""

from __future__ import annotations

import json

import httpx
import pytest

from bus.errors import PermanentError, TransientError
from bus.http import ApiClient
from services.inventory_sync.storefront import LeakyBucket, StorefrontInventory


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_bucket_lets_a_burst_through_then_paces_at_the_leak_rate() -> None:
    fake = FakeTime()
    bucket = LeakyBucket(capacity=4, leak_per_second=2.0, clock=fake.clock, sleep=fake.sleep)
    waits = [bucket.acquire() for _ in range(7)]
    assert waits[:4] == [0.0] * 4
    assert waits[4:] == pytest.approx([0.5, 0.5, 0.5])


def test_bucket_takes_the_shops_count_as_the_truth() -> None:
    fake = FakeTime()
    bucket = LeakyBucket(capacity=40, leak_per_second=2.0, clock=fake.clock, sleep=fake.sleep)
    bucket.observe("40/40")
    assert bucket.acquire() == pytest.approx(0.5)
    bucket.observe("garbage")
    bucket.observe("0/80")
    assert bucket.capacity == 80 and bucket.acquire() == 0.0


def _inventory(handler: httpx.MockTransport) -> StorefrontInventory:
    api = ApiClient("storefront", "http://shop.test", transport=handler)
    return StorefrontInventory(api, LeakyBucket(40, 2.0))


def test_set_available_sends_the_absolute_quantity() -> None:
    bodies = []

    def shop(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/admin/api/2024-10/inventory_levels/set.json"
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"inventory_level": {}},
                              headers={"X-Shopify-Shop-Api-Call-Limit": "1/40"})

    _inventory(httpx.MockTransport(shop)).set_available(808950810, 655441491, 7)
    assert bodies == [{"location_id": 655441491, "inventory_item_id": 808950810, "available": 7}]


def test_throttled_is_transient_with_retry_after_and_refused_is_permanent() -> None:
    throttled = _inventory(httpx.MockTransport(lambda r: httpx.Response(
        429, json={"errors": "Exceeded 2 calls per second"}, headers={"Retry-After": "1.0"})))
    with pytest.raises(TransientError) as caught:
        throttled.set_available(1, 2, 3)
    assert caught.value.retry_after == 1.0
    refused = _inventory(httpx.MockTransport(lambda r: httpx.Response(422, json={"errors": "no"})))
    with pytest.raises(PermanentError):
        refused.set_available(1, 2, 3)
