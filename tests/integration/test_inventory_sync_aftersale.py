"""inventory-sync after the sale, on the real broker and registry against the storefront simulator:
a cancellation releases the holds, a partial refund restocks exactly one unit, a return received and
refunded restocks once, a redelivered refund restocks nothing twice, a refund for an unknown order is
dead-lettered with the reason, and a SIGKILL mid-stream of refunds leaves the stock exact."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from bus.assembly import Assembly
from bus.contracts import models as m
from bus.contracts.examples import examples, meta, money
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
from tests.integration.test_inventory_sync import TOKYO, TOKYO_ID, _level, _order

R = m.RestockType


@pytest.fixture
def storefront() -> Iterator[HttpServer]:
    with HttpServer(create_app(StorefrontConfig(bucket_capacity=40, leak_per_second=20.0)),
                    name="storefront-sim") as server:
        yield server


@pytest.fixture
def settings(new_topic: Callable[..., str], storefront: HttpServer, tmp_path: Path) -> InventorySyncSettings:
    skus = {f"TEA-{i:02d}": 700_000 + i for i in range(12)}
    (tmp_path / "sku-map.csv").write_text("sku,inventory_item_id\n" + "".join(
        f"{sku},{item}\n" for sku, item in skus.items()), encoding="utf-8")
    compact = {"cleanup.policy": "compact"}
    return InventorySyncSettings(
        orders_topic=new_topic("orders"), levels_topic=new_topic("levels"),
        cancellations_topic=new_topic("cancellations"), refunds_topic=new_topic("refunds"),
        returns_topic=new_topic("returns"), reservations_topic=new_topic("reservations"),
        status_topic=new_topic("status"), changelog_topic=new_topic("changelog", config=compact),
        ledger_topic=new_topic("ledger", config=compact), sku_map=tmp_path / "sku-map.csv",
        locations={TOKYO: TOKYO_ID}, storefront_url=storefront.url, push_linger_seconds=0.3)


def _order_of(number: int, sku: str, quantity: int) -> m.OrderPlaced:
    order = _order(number, sku)
    return replace(order, lines=[replace(order.lines[0], quantity=quantity)])


def _refund(order: m.OrderPlaced, refund_id: str, quantity: int, kind: m.RestockType) -> m.OrderRefunded:
    refund = examples()["OrderRefunded"]
    assert isinstance(refund, m.OrderRefunded)
    line = order.lines[0]
    return replace(refund, meta=meta(f"shopify:refund:{refund_id}", correlation_id=order.order_id),
                   order_id=order.order_id, refund_id=refund_id, lines=[m.RefundLine(
                       line_id=line.line_id, sku=line.sku, quantity=quantity, amount=money("17.80"),
                       restock=True, restock_type=kind, location=None)])


def _cancel(order: m.OrderPlaced) -> m.OrderCancelled:
    cancelled = examples()["OrderCancelled"]
    assert isinstance(cancelled, m.OrderCancelled)
    return replace(cancelled, meta=meta(f"cancel:{order.order_id}"), order_id=order.order_id)


def _received(order: m.OrderPlaced, return_id: str, quantity: int) -> m.ReturnUpdated:
    returned = examples()["ReturnUpdated"]
    assert isinstance(returned, m.ReturnUpdated)
    line = order.lines[0]
    return replace(returned, meta=meta(f"shopify:return:{return_id}:RECEIVED"), order_id=order.order_id,
                   return_id=return_id, location=TOKYO,
                   lines=[m.ReturnLine(line_id=line.line_id, sku=line.sku, quantity=quantity)])


def _topic(settings: InventorySyncSettings, event: Any) -> tuple[str, str]:
    """The topic and key an event goes to (as order-capture and the router publish them)."""
    if isinstance(event, m.StockLevelChanged):
        return settings.levels_topic, event.sku
    topic = {m.OrderPlaced: settings.orders_topic, m.OrderCancelled: settings.cancellations_topic,
             m.OrderRefunded: settings.refunds_topic, m.ReturnUpdated: settings.returns_topic}[type(event)]
    return topic, event.order_id


def _produce(bootstrap: str, settings: InventorySyncSettings, events: list[Any]) -> None:
    codec = avro_codec(settings)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for event in events:
        topic, key = _topic(settings, event)
        producer.produce(topic, key=key, value=codec.encode(topic, event))
        producer.poll(0)
    assert producer.flush(30) == 0


def _available(server: HttpServer) -> dict[int, int]:
    received = httpx.get(f"{server.url}/_sim/received", timeout=10).json()
    return {lv["inventory_item_id"]: lv["available"] for lv in received["inventory"]
            if lv["location_id"] == TOKYO_ID and 700_000 <= lv["inventory_item_id"] < 700_012}


def _settled(bootstrap: str, settings: InventorySyncSettings, group: str) -> bool:
    """Every input consumed and committed, and every net level pushed (read_uncommitted: a killed
    instance's open transaction must not hold the check up)."""
    inputs = (settings.orders_topic, settings.cancellations_topic, settings.refunds_topic,
              settings.returns_topic)
    consumed = all(committed_total(bootstrap, topic, group, isolation="read_uncommitted")
                   == end_offsets(bootstrap, topic) for topic in inputs)
    return (consumed
            and committed_total(bootstrap, settings.levels_topic, f"{group}.storefront")
            == end_offsets(bootstrap, settings.levels_topic))


def test_cancel_partial_refund_return_redelivery_and_unknown_order(
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
    cancelled, refunded, returned = _order_of(6001, "TEA-00", 3), _order_of(6002, "TEA-01", 3), \
        _order_of(6003, "TEA-02", 2)
    try:
        _produce(kafka_bootstrap, settings, [_level(f"TEA-0{i}", 10, 0) for i in range(3)])
        _produce(kafka_bootstrap, settings, [cancelled, refunded, returned])
        assert wait_for(lambda: _available(storefront) == {700_000: 7, 700_001: 7, 700_002: 8}, timeout=60), \
            _available(storefront)

        # The cancellation releases the three held units; the partial refund restocks one of three.
        refund = _refund(refunded, "r-6002", 1, R.RETURN)
        _produce(kafka_bootstrap, settings, [_cancel(cancelled), refund])
        assert wait_for(lambda: _available(storefront) == {700_000: 10, 700_001: 8, 700_002: 8}, timeout=60)

        # A return received and refunded with RETURN: the same unit, restocked once. The refund and
        # the cancellation delivered again restock and release nothing more.
        _produce(kafka_bootstrap, settings, [_received(returned, "ret-6003", 1),
                                             _refund(returned, "r-6003", 1, R.RETURN), refund,
                                             _cancel(cancelled), _refund(cancelled, "r-6001", 3, R.CANCEL)])
        # A refund for an order inventory-sync never decided.
        stranger = _order_of(6999, "TEA-03", 1)
        _produce(kafka_bootstrap, settings, [_refund(stranger, "r-6999", 1, R.RETURN)])
        assert wait_for(lambda: _settled(kafka_bootstrap, settings, group), timeout=60)
        assert _available(storefront) == {700_000: 10, 700_001: 8, 700_002: 9}
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()

    dead = [msg for msg in read_all(kafka_bootstrap, "dlq.inventory-sync")
            if header_dict(msg.headers())["__connect.errors.topic"] == settings.refunds_topic]
    assert [msg.key() for msg in dead] == [stranger.order_id.encode()], "the unknown order's refund only"
    reason = header_dict(dead[0].headers())["__connect.errors.exception.message"]
    assert f"refund r-6999 for order {stranger.order_id}, which inventory-sync has not decided" in reason


def _start(settings: InventorySyncSettings, bootstrap: str, registry: str,
           group: str) -> subprocess.Popen[str]:
    names = ("orders_topic", "levels_topic", "cancellations_topic", "refunds_topic", "returns_topic",
             "reservations_topic", "status_topic", "changelog_topic", "ledger_topic", "sku_map",
             "storefront_url", "push_linger_seconds")
    own = {f"ECOMBUS_INVENTORY_{name.upper()}": str(getattr(settings, name)) for name in names}
    env = service_env(bootstrap, registry, group, ECOMBUS_BATCH_SIZE="20",
                      ECOMBUS_INVENTORY_LOCATIONS=f'{{"{TOKYO}": {TOKYO_ID}}}', **own)
    return start_service("inventory-sync", env)


def test_sigkill_mid_stream_of_refunds_then_restart_restocks_each_unit_once(
        kafka_bootstrap: str, schema_registry_url: str, storefront: HttpServer,
        settings: InventorySyncSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", schema_registry_url)
    group = f"ecombus.test.{settings.orders_topic}"
    orders = [_order_of(30_000 + n, f"TEA-{n % 10:02d}", 3) for n in range(1000)]  # 300 units per SKU
    items = {700_000 + i: 100 for i in range(10)}  # 400 - 300 held
    # One unit back per order; every other refund delivered again after all the others: what
    # the killed instance committed must survive (the odd ones) and dedupe its redelivery (the even ones)
    # from the state read back, not from memory.
    once = [_refund(order, f"r-{30_000 + n}", 1, R.RETURN if n % 2 else R.CANCEL)
            for n, order in enumerate(orders)]
    refunds: list[Any] = once + once[::2]

    first = _start(settings, kafka_bootstrap, schema_registry_url, group)
    _produce(kafka_bootstrap, settings, [_level(f"TEA-{i:02d}", 400, 0) for i in range(10)] + orders)
    assert wait_for(lambda: _settled(kafka_bootstrap, settings, group) and _available(storefront) == items,
                    timeout=180), "the orders' holds never reached the storefront"
    _produce(kafka_bootstrap, settings, refunds)
    assert wait_for(lambda: committed_total(kafka_bootstrap, settings.refunds_topic, group,
                                            isolation="read_uncommitted") > 200, timeout=120), "no progress"
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    done = committed_total(kafka_bootstrap, settings.refunds_topic, group, isolation="read_uncommitted")
    assert done < len(once), "the first copies were all handled before the kill; nothing tested"

    second = _start(settings, kafka_bootstrap, schema_registry_url, group)
    final = dict.fromkeys(items, 200)
    try:
        assert wait_for(lambda: _settled(kafka_bootstrap, settings, group)
                        and _available(storefront) == final, timeout=180), _available(storefront)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=90)
    assert second.returncode == 0, log_of(second)[-3000:]
    assert _available(storefront) == final, "each refunded unit back once: none lost, none twice"
    assert not [msg for msg in read_all(kafka_bootstrap, "dlq.inventory-sync")
                if header_dict(msg.headers())["__connect.errors.topic"] == settings.refunds_topic]
