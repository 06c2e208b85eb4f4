"""order-capture's intake stage: stored deliveries interpreted once per dedupe key.

Deliveries are stored as the edge stores them (IntakeLog, Avro through a fake registry), then
run through a real exactly-once ConsumerLoop (fake Kafka clients, tests/unit/runtime/fake_kafka.py)
whose handler is ``Interpreter(dedupe, OrderCapture.interpret)``, once with the in-memory
MemoryDedupe and once with a real SQLite DedupeState (its changelog reads replaced)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.errors import SerializationError, TransientError
from bus.http import ApiClient
from bus.runtime.dedupe_state import DedupeState
from bus.runtime.handlers import Context
from bus.runtime.retry import RetryPolicy
from bus.serde import AvroCodec
from bus.webhooks.intake import RECONCILIATION, WEBHOOK, Identity, IntakeLog
from bus.webhooks.stage import Interpreter, delivery_of
from services.order_capture.handlers import OrderCapture, Topics, placed_key
from services.order_capture.reconciliation import ORDERS_PATH
from simulators import fixture
from tests.unit.runtime.fake_kafka import FakeMessage
from tests.unit.runtime.fakes import UNREACHABLE_KAFKA
from tests.unit.serde.fake_registry import FakeRegistry
from tests.unit.webhooks.fakes import FakeSender, MemoryDedupe, StageRun, run_stage

SHOP = "hanako-tea.myshopify.com"
ORDER = f"shopify:{SHOP}:6120004415"
INTAKE = "intake.storefronts.v1"
CHANGELOG = "order-capture.intake.changelog"
NOW = 1_749_000_000.0


class Stage:
    """Stores deliveries like the edge, runs them through the stage like the service."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, dedupe: Any,
                 capture: OrderCapture | None = None) -> None:
        self.monkeypatch, self.dedupe = monkeypatch, dedupe
        self.codec = AvroCodec(FakeRegistry().client())
        self.capture = capture or OrderCapture(Topics(), clock=lambda: NOW)
        self.intake = IntakeLog(FakeSender(), self.codec, INTAKE, "order-capture", clock=lambda: NOW)

    def raw(self, body: bytes, headers: dict[str, str] | None = None, *, platform: str = "shopify",
            channel: str = WEBHOOK, identity: str = ORDER, tenant: str = SHOP, topic: str = "orders/create",
            path: str = "/webhooks/shopify") -> bytes:
        envelope = self.intake.envelope(platform, Identity(tenant, identity, topic), channel, path,
                                        headers or {}, body, NOW)
        return self.codec.encode(INTAKE, envelope)

    def shopify(self, event_id: str = "evt-1", topic: str = "orders/create",
                body: bytes | None = None) -> bytes:
        return self.raw(body or fixture("shopify_orders_create.json"), {
            "x-shopify-topic": topic, "x-shopify-shop-domain": SHOP, "x-shopify-event-id": event_id},
            topic=topic)

    def reconciled(self) -> bytes:
        return self.raw(fixture("shopify_orders_create.json"), channel=RECONCILIATION, path=ORDERS_PATH)

    def run(self, *batches: list[bytes], partition: int = 0, **kwargs: Any) -> StageRun:
        return run_stage(self.monkeypatch, INTAKE, self.capture.interpret, self.dedupe, self.codec,
                         [[(partition, value) for value in batch] for batch in batches],
                         partitions=(partition,), service="order-capture", **kwargs)

    def decoded(self, run: StageRun, topic: str) -> list[dict[str, Any]]:
        return [self.codec.decode(topic, p.value or b"") for p in run.committed(topic)]


@pytest.fixture(params=["memory", "sqlite"])
def dedupe(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryDedupe(CHANGELOG, clock=lambda: NOW)
        return
    state = DedupeState(UNREACHABLE_KAFKA.client_config(), INTAKE, CHANGELOG, ttl=7 * 86400, folder=tmp_path,
                        clock=lambda: NOW)
    yield state
    state.close()


@pytest.fixture
def stage(monkeypatch: pytest.MonkeyPatch, dedupe: Any) -> Stage:
    return Stage(monkeypatch, dedupe)


def test_an_order_becomes_order_placed_customer_and_marks_in_one_transaction(stage: Stage) -> None:
    run = stage.run([stage.shopify()], partition=2)
    assert run.producer.topics() == ["orders.placed.v1", "customers.profiles.v1", CHANGELOG, CHANGELOG]
    [order] = stage.decoded(run, "orders.placed.v1")
    assert (order["order_id"], order["meta"]["event_id"]) == (ORDER, f"shopify:{SHOP}:evt-1")
    assert order["shipping_address"]["line1"] == "神宮前1丁目2\u22123"
    [profile] = stage.decoded(run, "customers.profiles.v1")
    assert profile["customer_key"] == "hanako.sato@example.jp"
    assert run.committed("orders.placed.v1")[0].key == ORDER, "keyed by order id"
    marks = run.committed(CHANGELOG)
    assert [(m.key, m.partition) for m in marks] == [
        (f"shopify:{SHOP}:evt-1".encode(), 2), (placed_key(ORDER).encode(), 2)], \
        "marked on the changelog partition of the input partition"
    assert [m.value for m in marks] == [str(int(NOW * 1000)).encode()] * 2
    assert run.events.count("commit") == 1 and "abort" not in run.events


def test_the_same_event_again_in_the_same_transaction_or_after_the_commit_is_a_duplicate(
        stage: Stage) -> None:
    run = stage.run([stage.shopify(), stage.shopify()], [stage.shopify()])
    assert len(run.committed("orders.placed.v1")) == 1
    assert len(run.committed(CHANGELOG)) == 2, "marked once"


def test_another_event_creating_the_same_order_is_a_duplicate_by_the_order_key(stage: Stage) -> None:
    run = stage.run([stage.shopify("evt-1")], [stage.shopify("evt-9")])
    placed = stage.decoded(run, "orders.placed.v1")
    assert [o["meta"]["event_id"] for o in placed] == [f"shopify:{SHOP}:evt-1"]


@pytest.mark.parametrize("first", ["webhook", "reconciliation"])
def test_a_webhook_and_a_reconciled_order_yield_one_order_placed(stage: Stage, first: str) -> None:
    deliveries = [stage.shopify(), stage.reconciled()]
    if first == "reconciliation":
        deliveries.reverse()
    run = stage.run([deliveries[0]], [deliveries[1]])
    [order] = stage.decoded(run, "orders.placed.v1")
    assert order["order_id"] == ORDER
    expected = f"shopify:{SHOP}:evt-1" if first == "webhook" else f"shopify:{SHOP}:reconciled:6120004415"
    assert order["meta"]["event_id"] == expected
    assert placed_key(ORDER).encode() in [m.key for m in run.committed(CHANGELOG)]


def test_an_aborted_transaction_forgets_its_marks_and_the_redelivery_publishes(stage: Stage) -> None:
    run = stage.run([stage.shopify()], [stage.shopify()], fail_commits=1)
    assert "abort" in run.events
    assert len(run.committed("orders.placed.v1")) == 1, "published by the retried transaction, once"
    assert len(run.committed(CHANGELOG)) == 2


class FlakyCodec:
    """The stage's codec, failing to encode a topic with the given errors (in order)."""

    def __init__(self, codec: AvroCodec, topic: str, errors: list[Exception]) -> None:
        self.codec, self.topic, self.errors = codec, topic, errors

    def decode(self, topic: str, data: bytes) -> Any:
        return self.codec.decode(topic, data)

    def encode(self, topic: str, value: Any) -> bytes:
        if topic == self.topic and self.errors:
            raise self.errors.pop(0)
        return self.codec.encode(topic, value)


def test_a_failed_attempts_marks_are_forgotten_and_the_retry_marks_once(
        monkeypatch: pytest.MonkeyPatch, dedupe: Any) -> None:
    stage = Stage(monkeypatch, dedupe)
    stage.codec = FlakyCodec(stage.codec, "orders.placed.v1", [TransientError("registry down")])  # type: ignore[assignment]
    run = stage.run([stage.shopify()])
    assert run.producer.topics() == ["orders.placed.v1", "customers.profiles.v1", CHANGELOG, CHANGELOG]


def test_a_dead_lettered_delivery_keeps_its_raw_bytes_and_leaves_no_mark(
        monkeypatch: pytest.MonkeyPatch, dedupe: Any) -> None:
    stage = Stage(monkeypatch, dedupe)
    stage.codec = FlakyCodec(stage.codec, "orders.placed.v1",  # type: ignore[assignment]
                             [SerializationError("a decimal does not fit")])
    first = stage.shopify()
    run = stage.run([first], [stage.shopify()])
    [dead] = run.committed("dlq.order-capture")
    assert dead.value == first, "the raw delivery, as stored"
    headers = dict(dead.headers)
    assert headers["__connect.errors.topic"] == INTAKE.encode()
    assert headers["ecombus.errors.handler"] == b"interpret_delivery"
    assert len(run.committed("orders.placed.v1")) == 1, "its redelivery was interpreted afresh"


def test_an_order_that_does_not_map_is_dead_lettered_naming_the_field_not_the_value(stage: Stage) -> None:
    order = json.loads(fixture("shopify_orders_create.json"))
    order["currency"] = "ZZQ"
    raw = stage.shopify(body=json.dumps(order).encode())
    run = stage.run([raw])
    [dead] = run.committed("dlq.order-capture")
    message = dict(dead.headers)["__connect.errors.exception.message"].decode()
    assert "currency" in message and "ZZQ" not in message
    assert run.committed(CHANGELOG) == []


def test_a_cancellation_is_a_status_change_and_an_order_cancelled_once_and_other_topics_are_ignored(
        stage: Stage) -> None:
    order = json.loads(fixture("shopify_orders_create.json"))
    order.update(cancelled_at="2025-06-04T09:00:00+09:00", cancel_reason="customer",
                 updated_at="2025-06-04T09:00:01+09:00")
    cancelled = stage.shopify("evt-c", "orders/cancelled", json.dumps(order, ensure_ascii=False).encode())
    paid = stage.shopify("evt-p", "orders/paid")
    plain_update = stage.shopify("evt-u", "orders/updated")
    run = stage.run([cancelled, paid, plain_update], [cancelled])
    [status] = stage.decoded(run, "orders.status.v1")
    assert (status["order_id"], status["status"]) == (ORDER, "CANCELLED")
    [cancellation] = stage.decoded(run, "orders.cancellations.v1")
    assert (cancellation["order_id"], cancellation["reason"]) == (ORDER, "customer")
    assert cancellation["restock"] is True
    assert cancellation["meta"]["event_id"] == f"{ORDER}:cancelled"
    assert run.producer.topics() == ["orders.status.v1", CHANGELOG, "orders.cancellations.v1", CHANGELOG], \
        "each part with its mark; ignored ones leave no mark"


def test_a_new_owner_of_the_partition_restores_the_marks_from_the_changelog(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def replica(name: str) -> DedupeState:
        return DedupeState(UNREACHABLE_KAFKA.client_config(), INTAKE, CHANGELOG, ttl=86400,
                           folder=tmp_path / name, clock=lambda: NOW)

    first = Stage(monkeypatch, replica("a"))
    before = first.run([first.shopify()], partition=1)
    changelog = [FakeMessage(CHANGELOG, p.partition or 0, i, p.value,
                             p.key if isinstance(p.key, bytes) else None)
                 for i, p in enumerate(before.committed(CHANGELOG))]
    second = Stage(monkeypatch, replica("b"))
    second.codec = first.codec
    after = second.run([first.shopify()], [first.reconciled()], partition=1, changelog=changelog)
    assert after.producer.committed == [], "the redelivery and the reconciled order are duplicates"
    fresh = Stage(monkeypatch, replica("c"))
    fresh.codec = first.codec
    assert fresh.run([first.shopify()], partition=1).producer.topics()[0] == "orders.placed.v1", \
        "without the changelog it would have published again"


def _bigcommerce_api(calls: list[str]) -> ApiClient:
    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/stores/abc123/v2/orders/250":
            return httpx.Response(200, content=fixture("bigcommerce_order_250.json"))
        if request.url.path.endswith("/orders/503"):
            return httpx.Response(503, text="maintenance")
        return httpx.Response(404, json={"status": 404, "title": "The requested resource was not found."})

    return ApiClient("bigcommerce", "https://api.bigcommerce.test", transport=httpx.MockTransport(answer),
                     retry=RetryPolicy(max_attempts=2, initial_backoff=0.0, budget_seconds=1, jitter=0))


def test_bigcommerce_fetches_the_order_once_per_hash_and_dead_letters_an_unknown_one(
        monkeypatch: pytest.MonkeyPatch, dedupe: Any) -> None:
    calls: list[str] = []
    stage = Stage(monkeypatch, dedupe, OrderCapture(Topics(), _bigcommerce_api(calls)))
    webhook = json.loads(fixture("bigcommerce_order_created.json"))

    def stored(data_id: int, hash_: str) -> bytes:
        body = json.dumps({**webhook, "data": {"type": "order", "id": data_id}, "hash": hash_}).encode()
        return stage.raw(body, platform="bigcommerce", tenant="1025646",
                         identity=f"bigcommerce:1025646:{data_id}",
                         topic="store/order/created", path="/webhooks/bigcommerce")

    run = stage.run([stored(250, webhook["hash"]), stored(404, "h404")], [stored(250, webhook["hash"])])
    [order] = stage.decoded(run, "orders.placed.v1")
    assert (order["order_id"], order["customer"]["first_name"]) == ("bigcommerce:1025646:250", "Siobhán")
    assert order["meta"]["event_id"] == f"bigcommerce:1025646:{webhook['hash']}"
    [dead] = run.committed("dlq.order-capture")
    assert "404" in dict(dead.headers)["__connect.errors.exception.message"].decode()
    # the stage interprets before it checks the keys: a redelivery costs one more fetch, never an event
    assert calls.count("/stores/abc123/v2/orders/250") == 2


def test_the_interpreter_names_the_order_for_the_audit_and_ignores_what_publishes_nothing() -> None:
    stage = Stage(pytest.MonkeyPatch(), MemoryDedupe(CHANGELOG, clock=lambda: NOW))
    interpreter = Interpreter(stage.dedupe, stage.capture.interpret)
    ctx = Context(topic=INTAKE, partition=0, offset=0, key=None, headers=[], timestamp_ms=None)
    interpreter(stage.codec.decode(INTAKE, stage.shopify()), ctx)
    assert ctx.order_id == ORDER
    ignored = Context(topic=INTAKE, partition=0, offset=1, key=None, headers=[], timestamp_ms=None)
    interpreter(stage.codec.decode(INTAKE, stage.shopify("evt-p", "orders/paid")), ignored)
    assert (ignored.outputs, ignored.order_id) == ([], ORDER), "named by the delivery's identity"


def test_bigcommerce_without_its_api_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    stage = Stage(monkeypatch, MemoryDedupe(CHANGELOG))
    body = fixture("bigcommerce_order_created.json")
    raw = stage.codec.decode(INTAKE, stage.raw(body, platform="bigcommerce", tenant="1025646",
                                               identity="bigcommerce:1025646:250"))
    with pytest.raises(TransientError, match="not configured"):
        stage.capture.interpret(delivery_of(raw))
