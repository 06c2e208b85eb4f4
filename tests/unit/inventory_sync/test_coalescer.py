"""The storefront pusher: a burst becomes one call per item with the latest value; failures dead-lettered."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from bus.contracts import models as m
from bus.http import ApiClient
from bus.runtime.dlq import header_dict
from bus.runtime.handlers import Consumed
from bus.runtime.retry import RetryPolicy
from bus.sinks import Feed
from services.inventory_sync.allocation import Outcome, StockBook
from services.inventory_sync.coalescer import StockPusher
from services.inventory_sync.handlers import SOURCE
from services.inventory_sync.sku_map import SkuMap
from services.inventory_sync.storefront import LeakyBucket, StorefrontInventory
from tests.unit.inventory_sync.stock_events import T0, level
from tests.unit.runtime.fakes import FakeProducer

LEVELS = "inventory.levels.v1"
SKUS = {f"SKU-{i}": 808950900 + i for i in range(10)}


class MemoryCodec:
    """Keeps values by a counter; enough to hand the pusher typed events."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def encode(self, topic: str, value: Any) -> bytes:
        self.values.append(value.to_avro())
        return str(len(self.values) - 1).encode()

    def decode(self, topic: str, data: bytes) -> Any:
        return self.values[int(data)]


def _ours(sku: str, available: int) -> m.StockLevelChanged:
    event = level(sku, "TOKYO-1", available)
    return replace(event, meta=replace(event.meta, source=SOURCE))


def _pusher(shop: Any, book: StockBook, registry: CollectorRegistry) -> tuple[StockPusher, MemoryCodec,
                                                                               FakeProducer]:
    codec, producer = MemoryCodec(), FakeProducer()
    api = ApiClient("storefront", "http://shop.test", transport=httpx.MockTransport(shop))
    pusher = StockPusher(
        Feed("inventory-sync", LEVELS, "g", {}, producer, sleep=lambda _s: None),  # type: ignore[arg-type]
        storefront=StorefrontInventory(api, LeakyBucket(40, 2.0, sleep=lambda _s: None)), book=book,
        sku_map=SkuMap(SKUS, {"TOKYO-1": 655441491}), codec=codec,  # type: ignore[arg-type]
        retry=RetryPolicy(max_attempts=5, budget_seconds=60), linger=0.0, registry=registry)
    return pusher, codec, producer


def _record(codec: MemoryCodec, event: m.StockLevelChanged, offset: int) -> Consumed:
    return Consumed(LEVELS, 0, offset, event.sku.encode(), codec.encode(LEVELS, event), [], None)


def test_a_burst_of_1000_changes_costs_one_call_per_item_with_the_latest_value() -> None:
    book = StockBook(timedelta(minutes=15))
    calls: list[dict[str, int]] = []

    def shop(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        return httpx.Response(200, json={"inventory_level": {}})

    registry = CollectorRegistry()
    pusher, codec, _ = _pusher(shop, book, registry)
    for n in range(1000):
        sku = f"SKU-{n % 10}"
        book.apply_level(level(sku, "TOKYO-1", n), T0, ("levels", 0, n), Outcome())  # as the loop does
        pusher.add(_record(codec, _ours(sku, n), n))
        pusher.add(_record(codec, level(sku, "TOKYO-1", n), n))  # the ERP's own records: skipped
    pusher.flush()
    assert len(calls) == 10
    assert {c["inventory_item_id"]: c["available"] for c in calls} == {
        SKUS[f"SKU-{i}"]: 990 + i for i in range(10)}
    labels = {"service": "inventory-sync"}
    assert registry.get_sample_value("ecombus_storefront_inventory_coalesced_updates_total", labels) == 990
    for i in range(10):
        pusher.add(_record(codec, _ours(f"SKU-{i}", 0), 2000 + i))
    pusher.flush()
    assert len(calls) == 10, "unchanged values are not sent again"


def test_throttling_is_retried_after_retry_after_and_refusals_are_dead_lettered() -> None:
    book = StockBook(timedelta(minutes=15))
    book.apply_level(level("SKU-1", "TOKYO-1", 4), T0, ("levels", 0, 1), Outcome())
    book.apply_level(level("SKU-2", "TOKYO-1", 6), T0, ("levels", 0, 2), Outcome())
    answers = iter([httpx.Response(429, headers={"Retry-After": "1"}, json={"errors": "Exceeded"}),
                    httpx.Response(200, json={}), httpx.Response(422, json={"errors": "no such item"})])
    pusher, codec, producer = _pusher(lambda r: next(answers), book, CollectorRegistry())
    pusher.add(_record(codec, _ours("SKU-1", 4), 1))
    pusher.add(bad := _record(codec, _ours("SKU-2", 6), 2))
    pusher.flush()
    assert pusher.pushed == {pusher.sku_map.item("SKU-1", "TOKYO-1"): 4}
    assert [r["value"] for r in producer.records] == [bad.value]
    headers = header_dict(producer.records[0]["headers"])
    assert headers["ecombus.errors.kind"] == "permanent"
    assert "422" in headers["__connect.errors.exception.message"]
    assert pusher.pending == {}
