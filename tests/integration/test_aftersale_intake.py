"""After the sale, end to end: the storefront simulator's webhooks → order-capture → the four topics.

A real broker and registry, the storefront simulator on a free port and one order-capture (run
by its assembly in a thread, topics of its own). One KWD order has 1 of its 3 units refunded with
restock, a return requested then received, and a dispute; a second order is cancelled. Then
the refund webhook is redelivered while a reconciliation pass lists the refunded order: the
topics hold exactly the expected events, one OrderRefunded. A dispute on no order is
dead-lettered with the reason.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from bus.assembly import Assembly
from bus.contracts.catalog import schema_for_topic
from bus.runtime.audit import AUDIT_TOPIC
from bus.runtime.dlq import dlq_topic
from bus.runtime.service import RuntimeSettings
from bus.serde import AvroCodec, RegistryClient
from bus.settings import KafkaSettings
from bus.tools.local.broker import free_port
from bus.webhooks import HttpServer
from bus.webhooks.signatures import SCHEMES
from services.order_capture import SERVICE
from services.order_capture.settings import OrderCaptureSettings
from services.order_capture.wiring import OrderCaptureParts, build
from simulators import fixture
from simulators.storefront import DEMO_SECRETS, StorefrontConfig, create_app
from tests.integration.runtime.kafka_io import committed_total, end_offsets, read_all, wait_for
from tests.integration.test_order_capture import LOCAL, SHOP, SHOPS, Capture, _running

KINDS = {"orders": "orders.placed.v1", "customers": "customers.profiles.v1", "status": "orders.status.v1",
         "cancellations": "orders.cancellations.v1", "refunds": "orders.refunds.v1",
         "returns": "orders.returns.v1", "disputes": "orders.disputes.v1"}


@dataclass
class Bus:
    bootstrap: str
    registry_url: str
    topics: dict[str, str]
    capture: OrderCaptureParts
    store: httpx.Client

    def events(self, kind: str) -> list[dict[str, Any]]:
        deserializer = AvroDeserializer(SchemaRegistryClient({"url": self.registry_url}))
        ctx = SerializationContext(self.topics[kind], MessageField.VALUE)
        return [deserializer(m.value(), ctx) for m in read_all(self.bootstrap, self.topics[kind])]

    def caught_up(self) -> bool:
        """The intake stage committed every stored delivery."""
        intake = self.topics["intake"]
        done = committed_total(self.bootstrap, intake, self.topics["group"])
        return done == end_offsets(self.bootstrap, intake)


def _settings(topics: dict[str, str], port: int, store_url: str) -> OrderCaptureSettings:
    return OrderCaptureSettings(
        host="127.0.0.1", port=port, orders_topic=topics["orders"], customers_topic=topics["customers"],
        status_topic=topics["status"], cancellations_topic=topics["cancellations"],
        refunds_topic=topics["refunds"], returns_topic=topics["returns"], disputes_topic=topics["disputes"],
        ack_timeout_seconds=3.0, shops=SHOPS, intake_topic=topics["intake"],
        intake_changelog_topic=f"{topics['intake']}.changelog", intake_group_id=topics["group"],
        cursor_topic=f"test.aftersale.cursors.{uuid.uuid4().hex[:8]}",
        shopify_webhook_secret=DEMO_SECRETS["shopify"],
        woocommerce_webhook_secret=DEMO_SECRETS["woocommerce"],
        bigcommerce_webhook_secret=DEMO_SECRETS["bigcommerce"], bigcommerce_api_url=store_url,
        bigcommerce_api_token="bc-token", shopify_api_url=store_url, shopify_api_token="shpat-token",
        shopify_shop_domain=SHOP, reconcile_interval_seconds=0)


@pytest.fixture(scope="module")
def bus(kafka_bootstrap: str, schema_registry_url: str, kafka_admin: AdminClient) -> Iterator[Bus]:
    tag = uuid.uuid4().hex[:8]
    topics = {k: f"test.aftersale.{tag}.{k}" for k in (*KINDS, "intake")}
    new = [NewTopic(n, 3, 1, config={"max.message.bytes": "5373952"} if k == "intake" else {})
           for k, n in topics.items()]
    for future in kafka_admin.create_topics(new).values():
        future.result(30)
    topics["group"] = f"test.aftersale.{tag}.intake"
    if AUDIT_TOPIC not in kafka_admin.list_topics(timeout=30).topics:
        kafka_admin.create_topics([NewTopic(AUDIT_TOPIC, 3, 1)])[AUDIT_TOPIC].result(30)
    capture_port, store_port = free_port(), free_port()
    store_url = f"http://127.0.0.1:{store_port}"
    config = StorefrontConfig(webhook_urls={p: f"http://127.0.0.1:{capture_port}/webhooks/{p}"
                                            for p in ("shopify", "woocommerce", "bigcommerce")})
    store = HttpServer(create_app(config), port=store_port, name="storefront-sim").start()
    codec = AvroCodec(RegistryClient(schema_registry_url), writer_schemas={
        **{topics[k]: schema_for_topic(real) for k, real in KINDS.items()},
        topics["intake"]: schema_for_topic("intake.storefronts.v1")})
    assembly = Assembly(SERVICE, shutdown_timeout=10, admin=LOCAL)
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    parts = build(assembly, _settings(topics, capture_port, store_url), kafka, codec=codec,
                  runtime=RuntimeSettings(instance_id=f"test-{tag}"))
    try:
        with _running(Capture(assembly, parts)), httpx.Client(base_url=store_url, timeout=30) as client:
            yield Bus(kafka_bootstrap, schema_registry_url, topics, parts, client)
    finally:
        store.stop()


def _accepted(answer: httpx.Response) -> dict[str, Any]:
    found = answer.json()
    assert answer.status_code == 200 and found["delivery"]["status"] == 200, found
    return found


def test_cancel_refund_return_and_dispute_are_each_published_once(bus: Bus) -> None:
    kwd = _accepted(bus.store.post("/_sim/orders", json={"profile": "kw", "number": 3002}))["order"]["id"]
    other = _accepted(bus.store.post("/_sim/orders", json={"profile": "jp", "number": 3005}))["order"]["id"]
    order, cancelled_order = f"shopify:{SHOP}:{kwd}", f"shopify:{SHOP}:{other}"
    _accepted(bus.store.post(f"/_sim/orders/{other}/cancel", json={"reason": "customer"}))
    refund = _accepted(bus.store.post(f"/_sim/orders/{kwd}/refund", json={
        "lines": [{"sku": "MATCHA-40G", "quantity": 1, "restock_type": "return"}], "note": "dented"}))
    line = {"sku": "MATCHA-40G", "quantity": 1, "reason": "defective"}
    _accepted(bus.store.post(f"/_sim/orders/{kwd}/return", json={"step": "request", "return_id": 41,
                                                                 "lines": [line]}))
    _accepted(bus.store.post(f"/_sim/orders/{kwd}/return", json={"step": "process", "return_id": 41,
                                                                 "lines": [line]}))
    _accepted(bus.store.post(f"/_sim/orders/{kwd}/dispute", json={"dispute_id": 51, "amount": "4.611"}))
    assert wait_for(lambda: len(bus.events("disputes")) == 1 and len(bus.events("refunds")) == 1, 90)

    # the platform retries the refund while a reconciliation pass lists the refunded order
    reconciler = bus.capture.reconciler
    assert reconciler is not None
    passed: list[Any] = []
    reconciling = threading.Thread(target=lambda: passed.append(asyncio.run(reconciler.run_once())))
    reconciling.start()
    again = bus.store.post("/_sim/redeliver", json={"index": refund["delivery"]["index"]}).json()
    reconciling.join(60)
    assert again["status"] == 200 and passed and f"shopify:{SHOP}:{kwd}" in passed[0].stored
    assert wait_for(bus.caught_up, 90), "the stage interpreted every delivery"

    [refunded] = bus.events("refunds")
    assert (refunded["order_id"], refunded["refund_id"], refunded["currency"]) == (
        order, str(refund["refund"]["id"]), "KWD")
    assert refunded["meta"]["event_id"] == f"{order}:refund:{refund['refund']['id']}"
    [refund_line] = refunded["lines"]
    assert (refund_line["sku"], refund_line["quantity"]) == ("MATCHA-40G", 1)
    assert (refund_line["restock"], refund_line["restock_type"]) == (True, "RETURN")
    assert refund_line["amount"]["shop"] == {"amount": Decimal("4.250"), "currency": "KWD"}
    assert refunded["total"]["shop"]["amount"] == Decimal("4.611") and refunded["reason"] == "dented"
    assert [t["amount"]["amount"] for t in refunded["transactions"]] == [Decimal("4.611")]

    [cancellation] = bus.events("cancellations")
    assert (cancellation["order_id"], cancellation["reason"], cancellation["restock"]) == (
        cancelled_order, "customer", True)
    returns = bus.events("returns")
    assert [(r["order_id"], r["return_id"], r["status"]) for r in returns] == [
        (order, "41", "REQUESTED"), (order, "41", "RECEIVED")]
    assert returns[1]["received_at"] is not None and returns[1]["lines"][0]["quantity"] == 1
    [dispute] = bus.events("disputes")
    assert (dispute["order_id"], dispute["status"], dispute["amount"]["amount"]) == (
        order, "NEEDS_RESPONSE", Decimal("4.611"))
    keys = {kind: [m.key().decode() for m in read_all(bus.bootstrap, bus.topics[kind])]
            for kind in ("refunds", "returns", "disputes")}
    assert keys == {"refunds": [order], "returns": [order, order], "disputes": [order]}, "keyed by order"
    assert len([o for o in bus.events("orders") if o["order_id"] == order]) == 1


def test_a_dispute_on_no_order_is_dead_lettered_with_the_reason_and_answered_200(bus: Bus) -> None:
    body = fixture("aftersale/shopify_disputes_no_order.json")
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "disputes/create",
               "X-Shopify-Shop-Domain": SHOP, "X-Shopify-Event-Id": f"evt-{uuid.uuid4().hex}",
               **SCHEMES["shopify"].sign(DEMO_SECRETS["shopify"], body)}
    answer = httpx.post(f"{bus.capture.http.url}/webhooks/shopify", content=body, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    identity = f"shopify:{SHOP}:disputes:598735660"

    def dead() -> list[Any]:
        return [m for m in read_all(bus.bootstrap, dlq_topic(SERVICE)) if m.key() == identity.encode()]

    assert wait_for(lambda: bool(dead()), 90)
    headers_of = dict(dead()[-1].headers() or [])
    assert b"order_id" in headers_of["__connect.errors.exception.message"]
