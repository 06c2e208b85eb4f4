"""inventory-sync on the real broker and registry against the storefront simulator: racing orders,
an unknown SKU dead-lettered, a 1,000-change burst coalesced under a 2-requests-per-second limit,
and a SIGKILL mid-stream with nothing oversold, lost or decided twice after the restart."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from bus.assembly import Assembly
from bus.contracts import models as m
from bus.contracts.examples import meta, order_placed
from bus.runtime.dlq import header_dict
from bus.runtime.service import RuntimeSettings
from bus.settings import KafkaSettings
from bus.webhooks.server import HttpServer
from services.inventory_sync import SERVICE
from services.inventory_sync.settings import InventorySyncSettings
from services.inventory_sync.wiring import avro_codec, build
from simulators.storefront import StorefrontConfig, create_app
from tests.integration.processes import log_of, service_env, start_service
from tests.integration.runtime.kafka_io import committed_total, end_offsets, read_all, wait_for

SET_ROUTE = "POST /admin/api/2024-10/inventory_levels/set.json"
TOKYO, TOKYO_ID = "TOKYO-1", 655441491
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture
def storefront() -> Iterator[HttpServer]:
    """The storefront simulator limited to 2 requests per second (a bucket of 2 draining 2/s)."""
    with HttpServer(create_app(StorefrontConfig(bucket_capacity=2, leak_per_second=2.0)),
                    name="storefront-sim") as server:
        yield server


@pytest.fixture
def settings(new_topic: Callable[..., str], storefront: HttpServer, tmp_path: Path) -> InventorySyncSettings:
    skus = {f"TEA-{i:02d}": 700_000 + i for i in range(12)}
    (tmp_path / "sku-map.csv").write_text("sku,inventory_item_id\n" + "".join(
        f"{sku},{item}\n" for sku, item in skus.items()), encoding="utf-8")
    return InventorySyncSettings(
        orders_topic=new_topic("orders"), levels_topic=new_topic("levels"),
        reservations_topic=new_topic("reservations"), status_topic=new_topic("status"),
        changelog_topic=new_topic("changelog", config={"cleanup.policy": "compact"}),
        sku_map=tmp_path / "sku-map.csv", locations={TOKYO: TOKYO_ID}, storefront_url=storefront.url,
        push_linger_seconds=0.3, bucket_capacity=40)


def _level(sku: str, available: int, n: int) -> m.StockLevelChanged:
    envelope = meta(f"erp-stock:{sku}:{n}", correlation_id="erp-stock.csv", platform="erp")
    return m.StockLevelChanged(meta=envelope,
                               sku=sku, location=TOKYO, on_hand=available, available=available, reserved=0,
                               as_of=T0 + timedelta(seconds=n))


def _order(number: int, sku: str) -> m.OrderPlaced:
    order = order_placed(number)
    return replace(order, lines=[replace(order.lines[0], sku=sku, quantity=1)])


def _produce(bootstrap: str, settings: InventorySyncSettings, events: list[Any],
             partition_of: Callable[[int], int] | None = None) -> None:
    codec = avro_codec(settings)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for i, event in enumerate(events):
        topic, key = ((settings.orders_topic, event.order_id) if isinstance(event, m.OrderPlaced)
                      else (settings.levels_topic, event.sku))
        extra = {"partition": partition_of(i)} if partition_of else {}
        producer.produce(topic, key=key, value=codec.encode(topic, event), **extra)
        producer.poll(0)
    assert producer.flush(30) == 0


def _storefront_levels(server: HttpServer) -> dict[int, int]:
    received = httpx.get(f"{server.url}/_sim/received", timeout=10).json()
    return {lv["inventory_item_id"]: lv["available"] for lv in received["inventory"]
            if lv["location_id"] == TOKYO_ID}


def _set_calls(server: HttpServer) -> Counter[int]:
    received = httpx.get(f"{server.url}/_sim/received", timeout=10).json()
    return Counter(r["status"] for r in received["requests"] if f"{r['method']} {r['route']}" == SET_ROUTE)


def _pushed_everything(bootstrap: str, settings: InventorySyncSettings, group: str) -> bool:
    levels, orders = settings.levels_topic, settings.orders_topic
    return (committed_total(bootstrap, orders, group) == end_offsets(bootstrap, orders)
            and committed_total(bootstrap, levels, f"{group}.storefront") == end_offsets(bootstrap, levels))


def test_race_unknown_sku_and_a_burst_under_the_rate_limit(
        kafka_bootstrap: str, schema_registry_url: str, storefront: HttpServer,
        settings: InventorySyncSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", schema_registry_url)
    group = f"ecombus.test.{settings.orders_topic}"
    assembly = Assembly(SERVICE, admin=("127.0.0.1", 0))
    build(assembly, settings, RuntimeSettings(group_id=group, audit=False),
          KafkaSettings(bootstrap_servers=kafka_bootstrap))
    stop = threading.Event()
    thread = threading.Thread(target=assembly.run, args=(stop,), daemon=True)
    thread.start()
    try:
        # Two orders for the last unit of TEA-11, on different partitions.
        _produce(kafka_bootstrap, settings, [_level("TEA-11", 1, 0), _level("GYOKURO-20G", 5, 0)])
        assert wait_for(lambda: _storefront_levels(storefront).get(700_011) == 1, timeout=60)
        _produce(kafka_bootstrap, settings, [_order(5001, "TEA-11"), _order(5002, "TEA-11")],
                 partition_of=lambda i: i)
        assert wait_for(lambda: len(read_all(kafka_bootstrap, settings.status_topic)) == 2, timeout=60)
        assert wait_for(lambda: _storefront_levels(storefront).get(700_011) == 0, timeout=60)

        # 1,000 changes for 10 SKUs in one burst; the storefront allows 2 requests per second, and
        # throttles the first five pushes of the burst on top of that.
        calls_before = sum(_set_calls(storefront).values())
        httpx.post(f"{storefront.url}/_sim/faults", timeout=10, json={
            "count": 5, "status": 429, "path_prefix": "/admin/api/2024-10/inventory_levels/set.json"})
        burst = [_level(f"TEA-{n % 10:02d}", n, n) for n in range(1000)]
        _produce(kafka_bootstrap, settings, burst)
        final = {700_000 + i: 990 + i for i in range(10)}
        assert wait_for(lambda: all(_storefront_levels(storefront).get(k) == v for k, v in final.items())
                        and _pushed_everything(kafka_bootstrap, settings, group), timeout=120)
        metrics = httpx.get(f"{assembly.admin_url}/metrics", timeout=10).text
        pushed = 'ecombus_storefront_inventory_pushes_total{outcome="set",service="inventory-sync"}'
        assert pushed in metrics, "the pusher's series on the assembly's admin port"
        assert 'handler="reserve_stock",outcome="ok",service="inventory-sync"' in metrics, "and the loop's"
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()

    codec = avro_codec(settings)
    statuses = {codec.decode(settings.status_topic, msg.value())["order_id"]:
                codec.decode(settings.status_topic, msg.value())["status"]
                for msg in read_all(kafka_bootstrap, settings.status_topic)}
    assert sorted(statuses.values()) == ["BACKORDERED", "RESERVED"]
    reservations = [codec.decode(settings.reservations_topic, msg.value())
                    for msg in read_all(kafka_bootstrap, settings.reservations_topic)]
    assert sorted(r["result"] for r in reservations) == ["OUT_OF_STOCK", "RESERVED"]

    calls = _set_calls(storefront)
    burst_calls = sum(calls.values()) - calls_before
    print(f"\n[inventory-sync] 1000 changes for 10 SKUs: {burst_calls} set calls "
          f"({calls[429]} answered 429 and retried), limit 2/s")
    assert burst_calls <= 100, "coalesced: far fewer calls than changes"
    assert calls[429] >= 5, "the throttled calls were answered 429, retried, and the values still arrived"
    assert _storefront_levels(storefront)[700_011] == 0

    dead = [msg for msg in read_all(kafka_bootstrap, "dlq.inventory-sync")
            if header_dict(msg.headers())["__connect.errors.topic"] == settings.levels_topic]
    assert [msg.key() for msg in dead] == [b"GYOKURO-20G"], "the unknown SKU, and nothing else"
    assert "unknown SKU 'GYOKURO-20G'" in header_dict(dead[0].headers())["__connect.errors.exception.message"]


def _start(settings: InventorySyncSettings, bootstrap: str, registry: str,
           group: str) -> subprocess.Popen[str]:
    names = ("orders_topic", "levels_topic", "reservations_topic", "status_topic", "changelog_topic",
             "sku_map", "storefront_url", "push_linger_seconds")
    own = {f"ECOMBUS_INVENTORY_{name.upper()}": str(getattr(settings, name)) for name in names}
    env = service_env(bootstrap, registry, group, ECOMBUS_BATCH_SIZE="50",
                      ECOMBUS_INVENTORY_LOCATIONS=f'{{"{TOKYO}": {TOKYO_ID}}}', **own)
    return start_service("inventory-sync", env)


def _committed(bootstrap: str, topic: str, group: str) -> int:
    """Committed offsets, read_uncommitted: a killed instance's open transaction must not hold us up."""
    return committed_total(bootstrap, topic, group, isolation="read_uncommitted")


def test_sigkill_mid_stream_then_restart_oversells_nothing(
        kafka_bootstrap: str, schema_registry_url: str, storefront: HttpServer,
        settings: InventorySyncSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", schema_registry_url)
    group = f"ecombus.test.{settings.orders_topic}"
    stock = {f"TEA-{i:02d}": 60 + 10 * i for i in range(10)}  # 1,050 units in all
    orders = [_order(20_000 + n, f"TEA-{n % 10:02d}") for n in range(1500)]
    items = {700_000 + i: units for i, units in enumerate(stock.values())}

    first = _start(settings, kafka_bootstrap, schema_registry_url, group)
    _produce(kafka_bootstrap, settings, [_level(sku, units, 0) for sku, units in stock.items()])
    assert wait_for(lambda: all(_storefront_levels(storefront).get(k) == v for k, v in items.items()),
                    timeout=120), "the stock never reached the storefront"
    _produce(kafka_bootstrap, settings, orders)
    assert wait_for(lambda: _committed(kafka_bootstrap, settings.orders_topic, group) > 200, timeout=120), \
        "no progress before the kill"
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert _committed(kafka_bootstrap, settings.orders_topic, group) < len(orders), "finished before the kill"

    second = _start(settings, kafka_bootstrap, schema_registry_url, group)
    try:
        assert wait_for(lambda: _pushed_everything(kafka_bootstrap, settings, group)
                        and all(_storefront_levels(storefront).get(k) == 0 for k in items), timeout=180)
        # Orders the killed instance decided, delivered again: the restored state knows them.
        _produce(kafka_bootstrap, settings, orders[:5])
        assert wait_for(lambda: _pushed_everything(kafka_bootstrap, settings, group), timeout=60)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=90)
    assert second.returncode == 0, log_of(second)[-3000:]

    codec = avro_codec(settings)
    reservations = [codec.decode(settings.reservations_topic, msg.value())
                    for msg in read_all(kafka_bootstrap, settings.reservations_topic)]
    assert len(reservations) == len(orders), "one decision per order, none lost, none twice"
    assert {r["order_id"] for r in reservations} == {o.order_id for o in orders}
    reserved = Counter(r["lines"][0]["sku"] for r in reservations if r["result"] == "RESERVED")
    assert reserved == Counter(stock), "exactly the stock reserved: nothing oversold, nothing lost"
    statuses = [codec.decode(settings.status_topic, msg.value()) for msg in read_all(kafka_bootstrap,
                                                                                      settings.status_topic)]
    assert Counter(s["status"] for s in statuses) == {"RESERVED": 1050, "BACKORDERED": 450}
    assert {k: v for k, v in _storefront_levels(storefront).items() if k in items} == dict.fromkeys(items, 0)
