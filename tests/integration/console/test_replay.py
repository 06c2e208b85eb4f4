"""Replaying a real dead letter through the console: on a broker with a schema registry, the record
goes back exactly once with its bytes and replay headers, one audit record names who replayed it,
and an edited Avro value is produced with the original's schema id (the dead letter kept)."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from fastapi.testclient import TestClient

from bus.contracts import default_schema_set
from bus.contracts.examples import order_placed
from bus.ops import dlq as dlq_ops
from bus.runtime.audit import AUDIT_TOPIC
from bus.runtime.dlq import STAGE_HANDLER, Failure, dead_letter_headers, dlq_topic
from bus.runtime.handlers import headers_of
from bus.runtime.producer import BusProducer
from bus.runtime.table import read_to_end
from bus.serde import AvroDecoder, AvroEncoder, RegistryClient
from services.console.app import create_app
from services.console.context import Console
from services.console.settings import ConsoleSettings
from tests.unit.console.fakes import csrf_of

TOKEN = "integration-operator-token-0123"


@dataclass
class World:
    """A service's dead letter on a real broker, and a console (no index) that shows it."""

    client: dict[str, Any]
    service: str
    source: str
    user: str
    original: bytes
    order_id: str
    """Unique per test: the audit records of its replays name it, and another test's trace of the
    fixture order must not find them."""
    decoder: AvroDecoder
    browser: TestClient

    @property
    def dlq(self) -> str:
        return dlq_topic(self.service)


def ensure(admin: AdminClient, topics: list[str]) -> None:
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in topics]).values():
        try:
            future.result(30)
        except KafkaException as exc:  # a shared topic another test created first
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


@pytest.fixture
def world(kafka_bootstrap: str, schema_registry_url: str, new_topic: Callable[..., str]) -> Iterator[World]:
    client = {"bootstrap.servers": kafka_bootstrap}
    service, user = f"svc-{uuid.uuid4().hex[:8]}", f"ana-{uuid.uuid4().hex[:6]}"
    source = new_topic("orders", partitions=1)
    ensure(AdminClient(client), [dlq_topic(service), AUDIT_TOPIC])
    registry = RegistryClient(schema_registry_url)
    encoder = AvroEncoder(registry, {source: default_schema_set().schema_json("OrderPlaced")})
    order = order_placed(line_count=2)
    order_id = f"shopify:replay-test-{uuid.uuid4().hex[:8]}.myshopify.com:6120004415"
    meta = dataclasses.replace(order.meta, correlation_id=order_id)
    original = encoder.encode(source, dataclasses.replace(order, order_id=order_id, meta=meta))
    failure = Failure(service, "reserve_stock", STAGE_HANDLER, ValueError("unknown SKU MATCHA-40G"), 1,
                      time.time(), time.time())
    producer = Producer(client)
    producer.produce(dlq_topic(service), original, order_id.encode(),
                     headers=dead_letter_headers([("traceparent", b"00-abc-01")], source, 0, 41, failure))
    assert producer.flush(30) == 0
    del producer  # (a client left to the garbage collector outlives the session's broker)
    settings = ConsoleSettings(tokens=json.dumps([{"user": user, "role": "operator", "token": TOKEN}]),
                               dlq_services=service)
    decoder = AvroDecoder(registry, use_contracts=False)
    bus_producer = BusProducer(client)
    console = Console(settings, client=client, decoder=decoder, producer=bus_producer)
    with TestClient(create_app(console), base_url="http://console.test") as browser:
        form = browser.get("/login")
        browser.post("/login", data={"token": TOKEN, "csrf_token": csrf_of(form.text), "next": "/"})
        yield World(client, service, source, user, original, order_id, decoder, browser)
    bus_producer.close(10)
    console.producer = None  # the only client the console holds: gone with the test, not after the broker
    del bus_producer
    registry.close()


def finished(world: World, location: str) -> str:
    """The replay job's page once the job is over."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page = world.browser.get(location).text
        if 'http-equiv="refresh"' not in page:
            return page
        time.sleep(0.2)
    raise AssertionError("the replay did not finish within 60 s")


def post(world: World, path: str, data: dict[str, str], page: str) -> Any:
    csrf = csrf_of(world.browser.get(page).text)
    return world.browser.post(path, data={**data, "csrf_token": csrf}, follow_redirects=False)


def audit_of(world: World) -> list[dict[str, Any]]:
    found = []
    for msg in read_to_end(world.client, AUDIT_TOPIC):
        record = world.decoder.decode(AUDIT_TOPIC, msg.value() or b"")
        if record.get("actor") == world.user and record["topic"] == world.dlq:
            found.append(record)
    return found


def test_a_dead_letter_replayed_through_the_console_is_produced_once_with_its_bytes_and_audited(
        world: World) -> None:
    page = world.browser.get(f"/dead-letters/{world.dlq}/0/0")
    assert page.status_code == 200 and "unknown SKU MATCHA-40G" in page.text
    assert '"sku": "MATCHA-40G"' in html.unescape(page.text), "decoded through the registry"
    assert "1 pending" in world.browser.get("/dead-letters").text

    one = f"{world.dlq}/0/0"
    preview = post(world, "/dead-letters/replay-preview", {"id": one}, f"/dead-letters/{one}")
    assert preview.status_code == 200 and 'data-testid="dry-run"' in preview.text
    assert list(read_to_end(world.client, world.source)) == [], "the preview produced nothing"
    answer = post(world, "/dead-letters/replay", {"ids": f"{world.dlq}/0/0"}, "/dead-letters")
    assert answer.status_code == 303
    job = finished(world, answer.headers["location"])
    assert "pill good" in job and 'data-testid="job-audited">1<' in job

    [replayed] = list(read_to_end(world.client, world.source))
    assert replayed.value() == world.original
    assert replayed.key() == world.order_id.encode()
    assert headers_of(replayed) == [
        ("traceparent", b"00-abc-01"), ("ecombus.replayed.from", f"{world.dlq}/0/0".encode()),
        ("ecombus.replayed.by", world.user.encode()), ("ecombus.replay.for", world.service.encode())]
    [audit] = audit_of(world)
    assert (audit["service"], audit["handler"], audit["outcome"], audit["partition"], audit["offset"]) == (
        "console", "replay", "REPLAYED", 0, 0)
    assert audit["order_id"] == world.order_id
    assert dlq_ops.summarize(world.client, world.service).pending == 0, \
        "the replay group moved on: `ecombus dlq replay` will not put it back again"


def test_an_edited_avro_value_is_produced_with_the_original_schema_id_and_the_dead_letter_kept(
        world: World) -> None:
    where = f"/dead-letters/{world.dlq}/0/0/edit"
    editor = world.browser.get(where)
    found = re.search(r'class="editor"[^>]*>\n(.*?)</textarea>', editor.text, re.S)
    assert found
    text = html.unescape(found.group(1)).replace('"sku": "MATCHA-40G"', '"sku": "MATCHA-040G"', 1)
    preview = post(world, where, {"text": text, "action": "preview"}, where)
    assert preview.status_code == 200 and "MATCHA-040G" in html.unescape(preview.text)
    assert list(read_to_end(world.client, world.source)) == []
    answer = post(world, where, {"text": text, "action": "replay"}, where)
    assert answer.status_code == 303
    assert "pill good" in finished(world, answer.headers["location"])

    [replayed] = list(read_to_end(world.client, world.source))
    value = replayed.value() or b""
    assert value[:5] == world.original[:5], "the original's schema id"
    assert [line["sku"] for line in world.decoder.decode(world.source, value)["lines"]] == [
        "MATCHA-040G", "HOJICHA-100G"]
    assert dict(headers_of(replayed))["ecombus.edited.by"] == world.user.encode()
    [kept] = list(read_to_end(world.client, world.dlq))
    assert kept.value() == world.original, "the dead letter itself is untouched"
    [audit] = audit_of(world)
    assert (audit["handler"], audit["outcome"]) == ("edit-and-replay", "REPLAYED")


def test_the_command_replays_with_the_same_headers_and_audit_records(world: World,
                                                                       schema_registry_url: str) -> None:
    with RegistryClient(schema_registry_url) as registry:
        report = dlq_ops.replay(world.client, world.service, actor=world.user, audit=AvroEncoder(registry))
    assert (report.replayed, report.audit_problem) == (1, None)
    [replayed] = list(read_to_end(world.client, world.source))
    assert replayed.value() == world.original
    assert dict(headers_of(replayed))["ecombus.replay.for"] == world.service.encode()
    assert dict(headers_of(replayed))["ecombus.replayed.by"] == world.user.encode()
    [audit] = audit_of(world)
    assert (audit["service"], audit["outcome"], audit["actor"]) == ("ecombus", "REPLAYED", world.user)
