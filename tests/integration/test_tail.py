"""``ecombus tail`` on a real broker and registry: JSON lines, Unicode intact, exact decimals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from bus.contracts import default_schema_set
from bus.contracts.examples import order_placed
from bus.serde import AvroEncoder, RegistryClient
from bus.tools.cli import main

SCHEMA = default_schema_set().schema_json("OrderPlaced")


@pytest.fixture
def orders_topic(kafka_bootstrap: str, schema_registry_url: str,
                 new_topic: Callable[..., str]) -> Iterator[tuple[str, Callable[[int, int], None]]]:
    """A fresh 2-partition topic carrying OrderPlaced, and a function producing orders to it."""
    topic = new_topic("orders", partitions=2)
    registry = RegistryClient(schema_registry_url)
    encoder = AvroEncoder(registry, {topic: SCHEMA})
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})

    def produce(first: int, count: int) -> None:
        for n in range(first, first + count):
            order = order_placed(order_number=n, line_count=2)
            producer.produce(topic, key=order.order_id.encode(), value=encoder.encode(topic, order),
                             headers=[("source", b"shopify"), ("blob", b"\xff\x00")])
        assert producer.flush(30) == 0

    yield topic, produce
    registry.close()


def _tail(kafka_bootstrap: str, registry_url: str, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    result = CliRunner().invoke(main, ["tail", *args, "--bootstrap-servers", kafka_bootstrap,
                                       "--registry-url", registry_url])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return result.exit_code, lines, result.output


def test_tail_from_beginning_max_5(kafka_bootstrap: str, schema_registry_url: str,
                                   orders_topic: tuple[str, Callable[[int, int], None]]) -> None:
    topic, produce = orders_topic
    produce(1042, 7)
    result = CliRunner().invoke(main, ["tail", topic, "--from-beginning", "--max", "5"], env={
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "SCHEMA_REGISTRY_URL": schema_registry_url})
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 5
    assert "神宮前1丁目2\u22123" in result.stdout and "青葉ビル５Ｆ" in result.stdout  # not \\u escapes
    for line in map(json.loads, result.stdout.splitlines()):
        assert set(line) == {"topic", "partition", "offset", "timestamp", "key", "value"}
        assert line["topic"] == topic and line["key"] == line["value"]["order_id"]
        assert line["timestamp"].endswith("Z")
        value = line["value"]
        assert value["customer"]["first_name"] == "花子"
        assert value["shipping_address"]["province"] == "東京都"
        assert value["lines"][0]["unit_price"]["shop"]["amount"] == "17.8000"
        assert Decimal(value["lines"][1]["unit_price"]["presentment"]["amount"]) == Decimal("1860")
        assert value["placed_at"] == "2025-06-03T01:12:43.000Z"


def test_tail_stops_at_the_end_as_of_start(kafka_bootstrap: str, schema_registry_url: str,
                                           orders_topic: tuple[str, Callable[[int, int], None]]) -> None:
    topic, produce = orders_topic
    produce(1, 6)
    code, lines, output = _tail(kafka_bootstrap, schema_registry_url, topic, "--from-beginning")
    assert code == 0, output
    assert len(lines) == 6
    assert sorted(line["value"]["order_number"] for line in lines) == [f"#{n}" for n in range(1, 7)]


def test_tail_without_from_beginning_shows_only_new_records(
        kafka_bootstrap: str, schema_registry_url: str,
        orders_topic: tuple[str, Callable[[int, int], None]]) -> None:
    topic, produce = orders_topic
    produce(1, 2)
    code, lines, output = _tail(kafka_bootstrap, schema_registry_url, topic)
    assert code == 0 and lines == []
    assert "--from-beginning" in output


def test_tail_filters_by_key_and_partition(kafka_bootstrap: str, schema_registry_url: str,
                                           orders_topic: tuple[str, Callable[[int, int], None]]) -> None:
    topic, produce = orders_topic
    produce(1, 8)
    _, everything, _ = _tail(kafka_bootstrap, schema_registry_url, topic, "--from-beginning")
    key = everything[3]["key"]
    _, by_key, _ = _tail(kafka_bootstrap, schema_registry_url, topic, "--from-beginning", "--key", key)
    assert [line["key"] for line in by_key] == [key]
    _, p1, _ = _tail(kafka_bootstrap, schema_registry_url, topic, "--from-beginning", "--partition", "1")
    assert p1 and {line["partition"] for line in p1} == {1}
    assert len(p1) == sum(1 for line in everything if line["partition"] == 1)
    code, _, output = _tail(kafka_bootstrap, schema_registry_url, topic, "--partition", "7")
    assert code == 2 and "not [7]" in output


def test_tail_headers_and_raw(kafka_bootstrap: str, schema_registry_url: str,
                              orders_topic: tuple[str, Callable[[int, int], None]]) -> None:
    topic, produce = orders_topic
    produce(1, 1)
    _, lines, _ = _tail(kafka_bootstrap, schema_registry_url, topic, "--from-beginning", "--headers")
    assert lines[0]["headers"] == [{"key": "source", "value": "shopify"},
                                   {"key": "blob", "value": {"base64": "/wA="}}]
    _, raw, _ = _tail(kafka_bootstrap, schema_registry_url, topic, "--from-beginning", "--raw",
                      "--registry-url", "http://127.0.0.1:9")  # raw needs no registry
    assert isinstance(raw[0]["value"], str) and raw[0]["value"].startswith("AAAA")  # magic 0 + id


def test_tail_shows_undecodable_values_with_the_reason(kafka_bootstrap: str, schema_registry_url: str,
                                                       new_topic: Callable[..., str]) -> None:
    topic = new_topic("plain", partitions=1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(topic, key=b"k", value=b'{"not": "avro"}')
    producer.flush(30)
    code, lines, _ = _tail(kafka_bootstrap, schema_registry_url, topic, "--from-beginning")
    assert code == 0 and lines[0]["value"] is None
    assert "bad magic byte" in lines[0]["error"]


def test_unknown_topic_lists_similar_topics(kafka_bootstrap: str, schema_registry_url: str,
                                            orders_topic: tuple[str, Callable[[int, int], None]]) -> None:
    topic, _ = orders_topic
    code, _, output = _tail(kafka_bootstrap, schema_registry_url, topic[:-1] + "X", "--from-beginning")
    assert code == 2
    assert "does not exist" in output and topic in output


def test_no_group_is_committed_unless_asked(kafka_bootstrap: str, schema_registry_url: str,
                                            orders_topic: tuple[str, Callable[[int, int], None]]) -> None:
    topic, produce = orders_topic
    produce(1, 4)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    before = {g.group_id for g in admin.list_consumer_groups().result(timeout=30).valid}
    _tail(kafka_bootstrap, schema_registry_url, topic, "--from-beginning")
    after = {g.group_id for g in admin.list_consumer_groups().result(timeout=30).valid}
    assert not {g for g in after - before if g.startswith("ecombus-tail")}

    group = f"{topic}.analyst"
    _, first, _ = _tail(kafka_bootstrap, schema_registry_url, topic, "--from-beginning", "--group", group,
                        "--max", "3")
    _, rest, _ = _tail(kafka_bootstrap, schema_registry_url, topic, "--from-beginning", "--group", group)
    assert len(first) == 3 and len(rest) == 1  # the group resumed where it committed


def test_follow_waits_for_new_records(kafka_bootstrap: str, schema_registry_url: str,
                                      orders_topic: tuple[str, Callable[[int, int], None]]) -> None:
    topic, produce = orders_topic
    produce(1, 2)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "SCHEMA_REGISTRY_URL": schema_registry_url}
    proc = subprocess.Popen([sys.executable, "-m", "bus.tools.cli", "tail", topic, "--from-beginning",
                             "--follow", "--max", "4"], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        seen = [proc.stdout.readline(), proc.stdout.readline()]  # the existing two
        produce(3, 2)
        seen += [proc.stdout.readline(), proc.stdout.readline()]
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    numbers = sorted(json.loads(line)["value"]["order_number"] for line in seen)
    assert numbers == ["#1", "#2", "#3", "#4"]
