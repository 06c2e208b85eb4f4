"""The topics pages on a real broker and registry: Avro, JSON, text and bytes on one topic, browsed
through the console application by offset, by time and newest first, filtered by key and by field,
decoded exactly and masked for viewers; browsing leaves no consumer group behind."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from fastapi.testclient import TestClient

from bus.contracts import default_schema_set
from bus.contracts.examples import order_placed
from bus.serde import AvroCodec, AvroDecoder, RegistryClient
from services.console.context import Console
from services.console.settings import ConsoleSettings
from services.console.topics import TOPIC_READER
from tests.unit.console.fakes import ACCOUNTS, OPERATOR_TOKEN, VIEWER_TOKEN, signed_in

SCHEMA = default_schema_set().schema_json("OrderPlaced")


@dataclass
class Mixed:
    """A two-partition topic: five Avro orders on partition 0 (written an hour ago, a second apart),
    then on partition 1 four JSON records, one text and one binary record (ten seconds later on)."""

    topic: str
    start_ms: int
    order_ids: list[str]
    operator: TestClient
    viewer: TestClient


@pytest.fixture
def mixed(kafka_bootstrap: str, schema_registry_url: str, new_topic: Callable[..., str]) -> Iterator[Mixed]:
    topic = new_topic("mixed", partitions=2)
    registry = RegistryClient(schema_registry_url)
    codec = AvroCodec(registry, writer_schemas={topic: SCHEMA})
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    start = int(time.time() * 1000) - 3_600_000
    order_ids = []
    for n in range(5):
        order = order_placed(order_number=1042 + n, line_count=2)
        order_ids.append(order.order_id)
        producer.produce(topic, partition=0, key=order.order_id.encode(), value=codec.encode(topic, order),
                         timestamp=start + n * 1000,
                         headers=[("source", b"shopify"), ("reply-to", b"hanako.sato@example.jp")])
    for n, status in enumerate(("PLACED", "DELIVERED", "PLACED", "DELIVERED")):
        value = {"shipment": f"s-{n}", "status": status, "customer": {"email": f"ana{n}@example.com"}}
        producer.produce(topic, partition=1, key=f"json-{n}".encode(), value=json.dumps(value).encode(),
                         timestamp=start + (10 + n) * 1000)
    producer.produce(topic, partition=1, key=b"text", value=b"hello from ana@example.com",
                     timestamp=start + 20_000)
    producer.produce(topic, partition=1, key=b"bin", value=b"\xff\x00\x01", timestamp=start + 21_000)
    assert producer.flush(30) == 0
    del producer  # gone before the session's broker stops
    decoder = AvroDecoder(RegistryClient(schema_registry_url), use_contracts=False)
    console = Console(ConsoleSettings(tokens=ACCOUNTS), client={"bootstrap.servers": kafka_bootstrap},
                      decoder=decoder)
    yield Mixed(topic, start, order_ids, signed_in(OPERATOR_TOKEN, console), signed_in(VIEWER_TOKEN, console))
    console.extras[TOPIC_READER].close()
    decoder.registry.close()
    registry.close()


def records(page: str) -> list[tuple[int, int]]:
    return [(int(p), int(o)) for p, o in re.findall(r'data-partition="(\d+)" data-offset="(\d+)"', page)]


def values(page: str) -> list[str]:
    return [html.unescape(v) for v in re.findall(r'<pre data-testid="value">(.*?)</pre>', page, re.S)]


def test_browse_by_offset_decodes_avro_exactly(mixed: Mixed) -> None:
    answer = mixed.operator.get(f"/topics/{mixed.topic}?partition=0&offset=1&limit=2")
    assert answer.status_code == 200, answer.text
    assert records(answer.text) == [(0, 1), (0, 2)]
    order = json.loads(values(answer.text)[0])
    assert order["order_id"] == mixed.order_ids[1]
    assert order["lines"][0]["unit_price"]["shop"]["amount"] == "17.8000", "decimals as written, never floats"
    assert order["placed_at"] == "2025-06-03T01:12:43.000Z"
    assert order["customer"]["email"] == "hanako.sato@example.jp"
    assert order["customer"]["first_name"] == "花子"
    assert re.search(r"avro \(schema \d+\)", answer.text)
    assert "reply-to: hanako.sato@example.jp" in answer.text and "source: shopify" in answer.text


def test_newest_first_and_every_kind_of_value(mixed: Mixed) -> None:
    page = mixed.operator.get(f"/topics/{mixed.topic}").text
    newest_first = [(1, o) for o in range(5, -1, -1)] + [(0, o) for o in range(4, -1, -1)]
    assert records(page) == newest_first
    shown = values(page)
    assert shown[0] == "/wAB" and shown[1] == "hello from ana@example.com"
    assert json.loads(shown[2])["status"] == "DELIVERED"
    assert "11 records, 11 scanned" in page


def test_browse_from_a_time(mixed: Mixed) -> None:
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((mixed.start_ms + 3_000) / 1000)) + "Z"
    page = mixed.operator.get(f"/topics/{mixed.topic}", params={"since": since, "limit": "4"}).text
    assert records(page) == [(0, 3), (0, 4), (1, 0), (1, 1)], "oldest first from the time, across partitions"
    later = mixed.operator.get(f"/topics/{mixed.topic}", params={"since": str(mixed.start_ms + 12_000)}).text
    assert records(later) == [(1, 2), (1, 3), (1, 4), (1, 5)]


def test_filters_by_key_and_by_field(mixed: Mixed) -> None:
    by_key = mixed.operator.get(f"/topics/{mixed.topic}", params={"key": mixed.order_ids[3]}).text
    assert records(by_key) == [(0, 3)]
    delivered = mixed.viewer.get(f"/topics/{mixed.topic}", params={"field": "status=DELIVERED"}).text
    assert records(delivered) == [(1, 3), (1, 1)] and "2 records matching, 11 scanned" in delivered
    avro = mixed.viewer.get(f"/topics/{mixed.topic}", params={"field": "order_number=#1044"}).text
    assert records(avro) == [(0, 2)]
    paid = mixed.viewer.get(f"/topics/{mixed.topic}", params={"field": "financial_status=PAID"}).text
    assert len(records(paid)) == 5
    sku = mixed.viewer.get(f"/topics/{mixed.topic}", params={"field": "lines.sku=HOJICHA-100G", "limit": "2"})
    assert records(sku.text) == [(0, 4), (0, 3)]
    amount = mixed.viewer.get(f"/topics/{mixed.topic}", params={"field": "lines.unit_price.shop.amount=17.8"})
    assert len(records(amount.text)) == 5, "an Avro decimal compares as a number"


def test_a_viewer_sees_personal_data_masked_and_may_not_search_it(mixed: Mixed) -> None:
    page = mixed.viewer.get(f"/topics/{mixed.topic}").text
    text = html.unescape(page)
    assert "hanako.sato@example.jp" not in text and "h***@example.jp" in text
    assert "花子" not in text and "佐藤" not in text and "神宮前" not in text and "5678" not in text
    assert "reply-to: h***@example.jp" in text
    assert "hello from a***@example.com" in text and "ana1@example.com" not in text
    assert "/wAB" not in text, "bytes are not shown to viewers"
    assert '"city": "渋谷区"' in text, "what is not personal stays readable"
    refused = mixed.viewer.get(f"/topics/{mixed.topic}", params={"field": "customer.email=ana1@example.com"})
    assert refused.status_code == 403 and records(refused.text) == []
    allowed = mixed.operator.get(f"/topics/{mixed.topic}",
                                 params={"field": "customer.email=ana1@example.com"})
    assert records(allowed.text) == [(1, 1)]


def test_the_list_and_that_browsing_leaves_no_group(mixed: Mixed, kafka_admin: AdminClient) -> None:
    listing = mixed.operator.get("/topics").text
    row = re.search(rf'data-topic="{re.escape(mixed.topic)}"(.*?)</tr>', listing, re.S)
    assert row and re.findall(r'<td class="num">([\d,]+)</td>', row.group(1)) == ["2", "11"]
    assert 'data-topic="_schemas' not in listing and 'data-topic="__consumer_offsets"' not in listing
    assert 'data-topic="__consumer_offsets"' in mixed.operator.get("/topics?internal=1").text
    for query in ("", "?partition=1&offset=0", "?field=status%3DDELIVERED"):
        started = time.monotonic()
        assert mixed.operator.get(f"/topics/{mixed.topic}{query}").status_code == 200
        print(f"{query or 'newest'}: {time.monotonic() - started:.3f} s")
        assert time.monotonic() - started < 3, "a page of a small topic takes well under the budget"
    groups = kafka_admin.list_consumer_groups().result(timeout=30)
    assert not [g.group_id for g in groups.valid if g.group_id.startswith("ecombus-console-browse-")]


def test_bad_input_on_a_real_topic_is_a_400(mixed: Mixed) -> None:
    answer = mixed.operator.get(f"/topics/{mixed.topic}?partition=2")
    assert answer.status_code == 400
    assert "partition: " in answer.text and "has partitions 0 to 1, not 2" in answer.text
    assert mixed.operator.get("/topics/no.such.topic.anywhere").status_code == 404
