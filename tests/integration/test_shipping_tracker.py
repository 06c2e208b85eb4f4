"""shipping-tracker end to end: carrier webhooks out of order and duplicated, on the real broker.

The tracker is built on an :class:`~bus.assembly.Assembly` named after the test (its own group,
DLQ and dedupe topics) and run by it in a thread, as ``ecombus run`` does.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from bus.assembly import Assembly
from bus.contracts.catalog import schema_for_topic
from bus.runtime.audit import AUDIT_TOPIC
from bus.runtime.dlq import header_dict
from bus.runtime.service import RuntimeSettings
from bus.serde import AvroCodec, RegistryClient
from bus.settings import KafkaSettings
from bus.tools.local.broker import free_port
from bus.webhooks import HttpServer
from services.shipping_tracker.settings import ShippingTrackerSettings
from services.shipping_tracker.wiring import ShippingTrackerParts, build
from simulators.carrier import DEMO_SECRETS, CarrierSimulator, Shipment
from simulators.storefront import StorefrontConfig, create_app
from tests.integration.runtime.kafka_io import read_all, wait_for

SHOP = "hanako-tea.myshopify.com"
ORDER = f"shopify:{SHOP}:6120004415"


@dataclass
class World:
    bootstrap: str
    codec: AvroCodec
    topics: dict[str, str]
    tracker: ShippingTrackerParts
    store: httpx.Client
    carrier: CarrierSimulator
    admin_url: str

    def decoded(self, key: str) -> list[dict]:
        topic = self.topics[key]
        return [self.codec.decode(topic, m.value()) for m in read_all(self.bootstrap, topic)]

    def ship(self, shipment: Shipment, **options: bool) -> list[dict]:
        return asyncio.run(self.carrier.send(shipment, **options))


@pytest.fixture(scope="module")
def world(kafka_bootstrap: str, schema_registry_url: str, kafka_admin: AdminClient) -> Iterator[World]:
    name = f"shipping-tracker-test-{uuid.uuid4().hex[:6]}"
    topics = {k: f"test.shipping-tracker.{k}.{uuid.uuid4().hex[:8]}"
              for k in ("shipments", "status", "intake")}
    topics["dlq"] = f"dlq.{name}"
    existing = kafka_admin.list_topics(timeout=30).topics
    new = [NewTopic(t, 1 if k == "dlq" else 3, 1) for k, t in topics.items()]
    new += [NewTopic(AUDIT_TOPIC, 3, 1)] if AUDIT_TOPIC not in existing else []
    for future in kafka_admin.create_topics(new).values():
        future.result(30)
    store = HttpServer(create_app(StorefrontConfig()), name="storefront-sim").start()
    store_client = httpx.Client(base_url=store.url, timeout=30)
    store_client.post("/_sim/orders", json={"platform": "shopify", "deliver": False})
    schemas = {topics["shipments"]: schema_for_topic("shipments.tracking.v1"),
               topics["status"]: schema_for_topic("orders.status.v1"),
               topics["intake"]: schema_for_topic("intake.carriers.v1")}
    codec = AvroCodec(RegistryClient(schema_registry_url), writer_schemas=schemas, reader_schemas=schemas)
    settings = ShippingTrackerSettings(
        host="127.0.0.1", port=free_port(), shipments_topic=topics["shipments"],
        status_topic=topics["status"], intake_topic=topics["intake"],
        intake_changelog_topic=f"{topics['intake']}.changelog", intake_group_id=f"{topics['intake']}.group",
        easypost_webhook_secret=DEMO_SECRETS["easypost"], aftership_webhook_secret=DEMO_SECRETS["aftership"],
        storefront_system=SHOP, storefront_api_url=store.url)
    runtime = RuntimeSettings(group_id=f"ecombus.{name}", retry_budget_seconds=5, shutdown_timeout_seconds=10)
    assembly = Assembly(name, shutdown_timeout=10, admin=("127.0.0.1", 0))
    tracker = build(assembly, settings, KafkaSettings(bootstrap_servers=kafka_bootstrap), runtime=runtime,
                    codec=codec)
    stop = threading.Event()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            assembly.run(stop)
        except BaseException as exc:
            failures.append(exc)

    runner = threading.Thread(target=run, name="shipping-tracker-test", daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 120
        while not tracker.http.started:
            if not runner.is_alive():
                raise AssertionError("shipping-tracker stopped while starting") from (failures or [None])[0]
            assert time.monotonic() < deadline, "shipping-tracker did not open its webhook port"
            time.sleep(0.05)
        urls = {p: f"{tracker.http.url}/webhooks/{p}" for p in ("easypost", "aftership")}
        carrier = CarrierSimulator(urls=urls)
        yield World(kafka_bootstrap, codec, topics, tracker, store_client, carrier, assembly.admin_url)
    finally:
        stop.set()
        runner.join(60)
        store_client.close()
        store.stop()
    assert not runner.is_alive(), "shipping-tracker did not drain within 60 s"
    assert not failures, failures
    assert tracker.consumer.loop.stopped.is_set(), "the consumer loop drained and committed"


def test_out_of_order_and_duplicated_updates_end_delivered_with_one_fulfillment(world: World) -> None:
    sent = world.ship(Shipment("6120004415", "1Z999AA10123456784", provider="aftership"),
                      out_of_order=True, duplicate=True)
    assert [(s["status"], s["answer"]["status"]) for s in sent] == [
        ("pre_transit", "accepted"), ("delivered", "accepted"), ("out_for_delivery", "accepted"),
        ("in_transit", "accepted"), ("in_transit", "accepted"), ("delivered", "accepted")]
    assert wait_for(lambda: [s["status"] for s in world.decoded("status")] == ["SHIPPED", "DELIVERED"], 60), \
        world.decoded("status")
    shipments = world.decoded("shipments")
    assert [s["status"] for s in shipments] == ["PRE_TRANSIT", "DELIVERED", "OUT_FOR_DELIVERY", "IN_TRANSIT"]
    assert {s["order_id"] for s in shipments} == {ORDER}
    assert shipments[1]["message"] == "配達完了" and shipments[1]["location"]["city"] == "渋谷区"
    statuses = world.decoded("status")
    assert statuses[1]["previous_status"] == "SHIPPED" and statuses[1]["order_id"] == ORDER
    assert wait_for(lambda: len(world.store.get("/_sim/received").json()["fulfillments"]) >= 1, 30)
    fulfillments = world.store.get("/_sim/received").json()["fulfillments"]
    assert [(f["order_id"], f["tracking_number"], f["tracking_company"]) for f in fulfillments] == [
        (6120004415, "1Z999AA10123456784", "ups")], "the tracking update reached the store once"
    admin = world.admin_url
    assert wait_for(lambda: httpx.get(f"{admin}/readyz").status_code == 200, 30), \
        httpx.get(f"{admin}/readyz").text
    metrics = httpx.get(f"{admin}/metrics").text
    assert 'outcome="accepted",platform="aftership"' in metrics, "webhook outcomes on the admin port"
    assert len(world.decoded("shipments")) == 4, "the two redeliveries were interpreted once each"


def test_an_unknown_order_is_dead_lettered_with_the_reason(world: World) -> None:
    world.ship(Shipment("999", "1ZUNKNOWN", provider="easypost", statuses=("in_transit",)))
    assert wait_for(lambda: len(read_all(world.bootstrap, world.topics["dlq"])) == 1, 60)
    [letter] = read_all(world.bootstrap, world.topics["dlq"])
    reason = header_dict(letter.headers())["__connect.errors.exception.message"]
    assert reason == f"unknown order shopify:{SHOP}:999: {SHOP} has no order 999"
    assert not [s for s in world.decoded("status") if s["order_id"].endswith(":999")]
