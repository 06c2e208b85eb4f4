"""order-capture end to end on the real broker and registry, fed by the storefront simulator.

One order-capture and one simulated store are shared by the module (their own topics); the
outage test runs its own broker, which it stops and starts. Each order-capture is built on an
:class:`~bus.assembly.Assembly` and run by it in a thread, as ``ecombus run`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from bus.assembly import Assembly
from bus.contracts.catalog import schema_for_topic
from bus.ops.trace import trace
from bus.runtime.audit import AUDIT_TOPIC
from bus.runtime.service import RuntimeSettings
from bus.serde import AvroCodec, RegistryClient
from bus.settings import KafkaSettings
from bus.tools.local.broker import LocalBroker, free_port
from bus.webhooks import HttpServer
from bus.webhooks.signatures import SCHEMES
from bus.webhooks.tenants import Tenant
from services.order_capture import SERVICE
from services.order_capture.settings import OrderCaptureSettings
from services.order_capture.wiring import OrderCaptureParts, build
from simulators import fixture
from simulators.storefront import DEMO_SECRETS, StorefrontConfig, create_app
from tests.integration.runtime.kafka_io import end_offsets, read_all, wait_for

SHOP = "hanako-tea.myshopify.com"
LOCAL = ("127.0.0.1", 0)
SHOPS = [Tenant(platform="shopify", domain=SHOP), Tenant(platform="woocommerce", domain="shop.example.de"),
         Tenant(platform="bigcommerce", domain="1025646")]


def _topics(admin: AdminClient, tag: str) -> dict[str, str]:
    names = {k: f"test.order-capture.{tag}.{k}.{uuid.uuid4().hex[:8]}"
             for k in ("orders", "customers", "status", "intake")}
    sized = {"max.message.bytes": "5373952"}  # as deploy/topics.yaml declares the intake topics
    new = [NewTopic(n, 3, 1, config=sized if k == "intake" else {}) for k, n in names.items()]
    for future in admin.create_topics(new).values():
        future.result(30)
    names["group"] = f"test.order-capture.{tag}.intake.{uuid.uuid4().hex[:8]}"
    return names


@dataclass
class Capture:
    """One order-capture as its assembly runs it."""

    assembly: Assembly
    parts: OrderCaptureParts

    @property
    def url(self) -> str:
        return self.parts.http.url


@contextlib.contextmanager
def _running(capture: Capture, timeout: float = 90.0) -> Iterator[Capture]:
    """Run the assembly in a thread; enter once the webhook port is open, stop and drain on exit."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            capture.assembly.run(stop)
        except BaseException as exc:
            failures.append(exc)

    runner = threading.Thread(target=run, name="order-capture-test", daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + timeout
        while not capture.parts.http.started:
            if not runner.is_alive():
                raise AssertionError("order-capture stopped while starting") from (failures or [None])[0]
            assert time.monotonic() < deadline, "order-capture did not open its webhook port"
            time.sleep(0.05)
        yield capture
    finally:
        stop.set()
        runner.join(60)
    assert not runner.is_alive(), "order-capture did not drain within 60 s"
    assert not failures, failures


def _settings(topics: dict[str, str], port: int, store_url: str | None = None,
              ack_timeout: float = 3.0) -> OrderCaptureSettings:
    return OrderCaptureSettings(
        host="127.0.0.1", port=port, orders_topic=topics["orders"], customers_topic=topics["customers"],
        status_topic=topics["status"], ack_timeout_seconds=ack_timeout, shops=SHOPS,
        intake_topic=topics["intake"], intake_changelog_topic=f"{topics['intake']}.changelog",
        intake_group_id=topics["group"],
        cursor_topic=f"test.order-capture.cursors.{uuid.uuid4().hex[:8]}",
        shopify_webhook_secret=DEMO_SECRETS["shopify"],
        woocommerce_webhook_secret=DEMO_SECRETS["woocommerce"],
        bigcommerce_webhook_secret=DEMO_SECRETS["bigcommerce"], bigcommerce_api_url=store_url or "http://unused",
        bigcommerce_api_token="bc-token", shopify_api_url=store_url, shopify_api_token="shpat-token",
        shopify_shop_domain=SHOP, reconcile_interval_seconds=0)


def _service(bootstrap: str, registry_url: str, topics: dict[str, str], port: int,
             store_url: str | None = None, ack_timeout: float = 3.0, instance: str | None = None) -> Capture:
    settings = _settings(topics, port, store_url, ack_timeout)
    codec = AvroCodec(RegistryClient(registry_url), writer_schemas={
        topics["orders"]: schema_for_topic("orders.placed.v1"),
        topics["customers"]: schema_for_topic("customers.profiles.v1"),
        topics["status"]: schema_for_topic("orders.status.v1"),
        topics["intake"]: schema_for_topic("intake.storefronts.v1")})
    assembly = Assembly(SERVICE, shutdown_timeout=10, admin=LOCAL)
    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    runtime = RuntimeSettings(instance_id=instance or f"test-{uuid.uuid4().hex[:8]}")
    return Capture(assembly, build(assembly, settings, kafka, codec=codec, runtime=runtime))


@dataclass
class Stack:
    bootstrap: str
    registry_url: str
    topics: dict[str, str]
    capture: OrderCaptureParts
    admin_url: str
    store: httpx.Client

    def orders(self) -> list[dict]:
        deserializer = AvroDeserializer(SchemaRegistryClient({"url": self.registry_url}))
        ctx = SerializationContext(self.topics["orders"], MessageField.VALUE)
        return [deserializer(m.value(), ctx) for m in read_all(self.bootstrap, self.topics["orders"])]


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, schema_registry_url: str, kafka_admin: AdminClient) -> Iterator[Stack]:
    capture_port, store_port = free_port(), free_port()
    store_url = f"http://127.0.0.1:{store_port}"
    config = StorefrontConfig(webhook_urls={p: f"http://127.0.0.1:{capture_port}/webhooks/{p}"
                                            for p in ("shopify", "woocommerce", "bigcommerce")})
    store = HttpServer(create_app(config), port=store_port, name="storefront-sim").start()
    topics = _topics(kafka_admin, "shared")
    if AUDIT_TOPIC not in kafka_admin.list_topics(timeout=30).topics:
        kafka_admin.create_topics([NewTopic(AUDIT_TOPIC, 3, 1)])[AUDIT_TOPIC].result(30)
    try:
        service = _service(kafka_bootstrap, schema_registry_url, topics, capture_port, store_url)
        with _running(service) as capture, httpx.Client(base_url=store_url, timeout=30) as client:
            yield Stack(kafka_bootstrap, schema_registry_url, topics, capture.parts,
                        capture.assembly.admin_url, client)
    finally:
        store.stop()


def _order_ids(stack: Stack) -> list[str]:
    return [m.key().decode() for m in read_all(stack.bootstrap, stack.topics["orders"])]


def _interpreted(stack: Stack, order_id: str, outcomes: list[str], timeout: float = 60.0) -> list[str]:
    """Wait until the intake stage's audit records of ``order_id`` end with ``outcomes``."""
    codec = AvroCodec(RegistryClient(stack.registry_url))
    seen: list[str] = []

    def done() -> bool:
        steps = trace({"bootstrap.servers": stack.bootstrap}, codec, order_id)
        seen[:] = [s.outcome for s in steps if s.handler == "interpret_delivery"]
        return seen[-len(outcomes):] == outcomes

    assert wait_for(done, timeout, interval=0.5), seen
    return seen


def test_fixture_order_is_published_once_and_readable_by_confluent_kafka(stack: Stack) -> None:
    sent = stack.store.post("/_sim/orders", json={"platform": "shopify", "event_id": "evt-fixture"}).json()
    assert (sent["delivery"]["status"], sent["delivery"]["answer"]["status"]) == (200, "accepted")
    order_id = f"shopify:{SHOP}:6120004415"
    assert wait_for(lambda: order_id in _order_ids(stack), 60)
    [order] = stack.orders()
    assert order["order_id"] == order_id
    assert order["shipping_address"]["line1"] == "神宮前1丁目2\u22123"
    assert order["shipping_address"]["line2"] == "青葉ビル５Ｆ"
    assert order["customer"]["last_name"] == "佐藤" and order["lines"][0]["title"] == "抹茶 40g"
    price = order["lines"][0]["unit_price"]
    assert (price["shop"]["amount"], price["presentment"]["amount"]) == (Decimal("17.80"), Decimal("2650"))
    assert (price["shop"]["currency"], price["presentment"]["currency"]) == ("USD", "JPY")
    assert order["totals"]["total"]["shop"]["amount"] == Decimal("38.63")

    again = stack.store.post("/_sim/redeliver", json={"index": sent["delivery"]["index"]}).json()
    assert (again["status"], again["answer"]["status"]) == (200, "accepted")
    _interpreted(stack, order_id, ["OK", "DUPLICATE"])
    assert _order_ids(stack).count(order_id) == 1
    assert wait_for(lambda: httpx.get(f"{stack.admin_url}/readyz").status_code == 200, 30), \
        httpx.get(f"{stack.admin_url}/readyz").text
    metrics = httpx.get(f"{stack.admin_url}/metrics").text
    assert 'outcome="accepted",platform="shopify"' in metrics, "webhook outcomes on the admin port"
    forged = stack.store.post("/_sim/orders", json={"profile": "jp", "number": 3001, "bad_signature": True})
    assert (forged.json()["delivery"]["status"], forged.json()["delivery"]["answer"]["error"]) == (
        401, "invalid_signature")
    raw = read_all(stack.bootstrap, stack.topics["intake"])
    assert [m.key().decode() for m in raw].count(order_id) == 2, "both deliveries kept as they came"
    codec = AvroCodec(RegistryClient(stack.registry_url))
    steps = trace({"bootstrap.servers": stack.bootstrap}, codec, order_id)
    received = [s for s in steps if s.outcome == "RECEIVED"]
    assert len(received) == 2 and steps[0].outcome == "RECEIVED", "the trace starts at the raw delivery"
    assert "/webhooks/shopify" in received[0].where and "127.0.0.1" in received[0].where


def test_unknown_shop_is_refused_and_nothing_is_stored(stack: Stack) -> None:
    before = end_offsets(stack.bootstrap, stack.topics["intake"])
    body = json.dumps({**json.loads(fixture("shopify_orders_create.json")), "id": 9_999_001}).encode()
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
               "X-Shopify-Shop-Domain": "other-shop.myshopify.com", "X-Shopify-Event-Id": "evt-other",
               **SCHEMES["shopify"].sign(DEMO_SECRETS["shopify"], body)}
    answer = httpx.post(f"{stack.capture.http.url}/webhooks/shopify", content=body, headers=headers,
                        timeout=30)
    assert (answer.status_code, answer.json()["error"]) == (403, "unknown_tenant")
    assert "other-shop" not in answer.text
    assert end_offsets(stack.bootstrap, stack.topics["intake"]) == before


def test_a_body_just_under_the_size_limit_is_stored_and_interpreted(stack: Stack) -> None:
    """What the edge's limit accepts fits the intake topic (producer and topic sized to it)."""
    order = json.loads(fixture("shopify_orders_create.json"))
    order.update(id=9_100_001, note="抹茶" * 750_000)  # 4.5 MB in UTF-8 (3 bytes a character)
    body = json.dumps(order, ensure_ascii=False).encode()
    assert 4 * 1024 * 1024 < len(body) < stack.capture.settings.max_body_bytes
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
               "X-Shopify-Shop-Domain": SHOP, "X-Shopify-Event-Id": "evt-large",
               **SCHEMES["shopify"].sign(DEMO_SECRETS["shopify"], body)}
    answer = httpx.post(f"{stack.capture.http.url}/webhooks/shopify", content=body, headers=headers,
                        timeout=30)
    assert (answer.status_code, answer.json()["status"]) == (200, "accepted"), answer.text[:300]
    assert wait_for(lambda: f"shopify:{SHOP}:9100001" in _order_ids(stack), 60)
    too_large = body + b" " * (stack.capture.settings.max_body_bytes - len(body) + 1)
    refused = httpx.post(f"{stack.capture.http.url}/webhooks/shopify", content=too_large,
                         headers={**headers, **SCHEMES["shopify"].sign(DEMO_SECRETS["shopify"], too_large)},
                         timeout=30)
    assert (refused.status_code, refused.json()["error"]) == (413, "payload_too_large")


def test_woocommerce_and_thin_bigcommerce_orders(stack: Stack) -> None:
    woo = stack.store.post("/_sim/orders", json={"platform": "woocommerce"}).json()["delivery"]
    big = stack.store.post("/_sim/orders", json={"platform": "bigcommerce"}).json()["delivery"]
    assert (woo["status"], big["status"]) == (200, 200), (woo, big)
    wanted = {"woocommerce:shop.example.de:727", "bigcommerce:1025646:250"}
    assert wait_for(lambda: wanted <= set(_order_ids(stack)), 60)
    orders = {o["order_id"]: o for o in stack.orders()}
    assert orders["woocommerce:shop.example.de:727"]["customer"]["last_name"] == "Müller"
    assert orders["bigcommerce:1025646:250"]["billing_address"]["first_name"] == "Siobhán"
    assert orders["bigcommerce:1025646:250"]["totals"]["total"]["shop"]["amount"] == Decimal("51.99")


def test_reconciliation_backfills_an_order_whose_webhook_was_dropped_and_a_late_webhook_adds_nothing(
        stack: Stack) -> None:
    lost = stack.store.post("/_sim/orders", json={"profile": "de", "number": 4001, "drop": True}).json()
    assert lost["delivery"]["dropped"] is True
    order_id = f"shopify:{SHOP}:{lost['order']['id']}"
    assert order_id not in _order_ids(stack)
    assert stack.capture.reconciler is not None
    done = asyncio.run(stack.capture.reconciler.run_once())
    assert order_id in done.stored
    asyncio.run(stack.capture.reconciler.run_once())  # the next pass lists it again
    assert wait_for(lambda: order_id in _order_ids(stack), 60)
    late = stack.store.post("/_sim/redeliver", json={"index": lost["delivery"]["index"]}).json()
    assert (late["status"], late["answer"]["status"]) == (200, "accepted"), "the webhook arrives after all"
    _interpreted(stack, order_id, ["OK", "DUPLICATE", "DUPLICATE"])
    assert _order_ids(stack).count(order_id) == 1, "backfilled once, the late webhook adds nothing"
    [backfilled] = [o for o in stack.orders() if o["order_id"] == order_id]
    assert (backfilled["customer"]["first_name"], backfilled["currency"]) == ("Jürgen", "EUR")
    assert backfilled["meta"]["event_id"] == f"shopify:{SHOP}:reconciled:{lost['order']['id']}"
    assert stack.capture.cursors is not None and stack.capture.cursors.get(f"shopify:{SHOP}")


def _post_order(url: str, number: int, *, client: httpx.Client | None = None) -> httpx.Response:
    body = json.dumps({**json.loads(fixture("shopify_orders_create.json")), "id": 9_000_000 + number,
                       "name": f"#{number}"}, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
               "X-Shopify-Shop-Domain": SHOP, "X-Shopify-Event-Id": f"outage-{number}",
               **SCHEMES["shopify"].sign(DEMO_SECRETS["shopify"], body)}
    return (client or httpx).post(f"{url}/webhooks/shopify", content=body, headers=headers, timeout=30)


def test_broker_down_during_a_webhook_is_503_and_the_retry_stores_it_once(
        tmp_path: Path, schema_registry_url: str) -> None:
    broker = LocalBroker(tmp_path / "kafka", port=free_port(), controller_port=free_port())
    bootstrap = broker.start().bootstrap_servers
    try:
        topics = _topics(AdminClient({"bootstrap.servers": bootstrap}), "outage")
        service = _service(bootstrap, schema_registry_url, topics, free_port(), ack_timeout=2.0)
        with _running(service) as capture:
            _outage(broker, bootstrap, topics, capture.url)
    finally:
        broker.stop()


def _outage(broker: LocalBroker, bootstrap: str, topics: dict[str, str], url: str) -> None:
    assert _post_order(url, 1).status_code == 200
    broker.stop()
    started = time.monotonic()
    down = _post_order(url, 2)
    assert (down.status_code, down.json()["error"]) == (503, "unavailable")
    assert down.headers.get("retry-after") == "1"
    assert time.monotonic() - started < 5, "answered within Shopify's 5 s"
    broker.start()
    retried: list[int] = []
    assert wait_for(lambda: retried.append(_post_order(url, 2).status_code) or retried[-1] == 200,
                    timeout=90, interval=1.0), retried
    assert _post_order(url, 2).status_code == 200
    wanted = [f"shopify:{SHOP}:9000001", f"shopify:{SHOP}:9000002"]
    assert wait_for(lambda: sorted(m.key().decode() for m in read_all(bootstrap, topics["orders"])) == wanted,
                    90, interval=1.0), "none lost, none doubled"
