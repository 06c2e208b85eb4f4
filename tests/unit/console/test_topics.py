"""The topics pages against a fake broker: the list, paging without gaps or repeats, filters and
their scan budget, masking for viewers, refusals of personal filters, and 400s naming the parameter."""

from __future__ import annotations

import html
import json
import re
import time
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec

from services.console.context import Console
from services.console.topic_reader import TopicReader
from services.console.topics import TOPIC_READER
from tests.unit.console.fakes import OPERATOR_TOKEN, VIEWER_TOKEN, console, signed_in
from tests.unit.runtime.fake_kafka import FakeMessage

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def done(value: Any) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


class FakeBroker:
    """Topics of partitions of records (offsets may have gaps, the start may be above 0); stands in
    for the ``Consumer`` and ``AdminClient`` classes (call it with a config)."""

    def __init__(self) -> None:
        self.records: dict[str, dict[int, list[FakeMessage]]] = {}
        self.low: dict[tuple[str, int], int] = {}
        self.configs: list[dict[str, Any]] = []
        self.open = 0
        self.down = False
        self.stalled = False

    def topic(self, name: str, partitions: int = 1) -> None:
        self.records[name] = {p: [] for p in range(partitions)}

    def add(self, topic: str, partition: int, value: bytes | None, key: bytes | None = None, *,
            ts: int | None = None, headers: list[tuple[str, bytes | None]] | None = None,
            offset: int | None = None) -> int:
        part = self.records[topic][partition]
        at = offset if offset is not None else (part[-1].offset_ + 1 if part else 0)
        part.append(FakeMessage(topic, partition, at, value, key, headers or [],
                                timestamp_=T0 + at * 1000 if ts is None else ts))
        return at

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        part = self.records[topic][partition]
        return self.low.get((topic, partition), 0), part[-1].offset_ + 1 if part else 0

    def __call__(self, config: dict[str, Any]) -> FakeConsumer:
        self.configs.append(config)
        self.open += 1
        return FakeConsumer(self)

    def admin(self, _config: dict[str, Any]) -> FakeBroker:
        return self

    # --- AdminClient surface
    def list_topics(self, timeout: float = 0) -> Any:
        if self.down:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "broker down"))
        return SimpleNamespace(topics={name: SimpleNamespace(error=None, partitions=dict.fromkeys(parts))
                                       for name, parts in self.records.items()})

    def list_offsets(self, request: dict[TopicPartition, OffsetSpec], **_: Any
                     ) -> dict[TopicPartition, Future]:
        out = {}
        for tp, spec in request.items():
            low, high = self.watermarks(tp.topic, tp.partition)
            out[tp] = done(SimpleNamespace(offset=low if spec is OffsetSpec.earliest() else high))
        return out


class FakeConsumer:
    """An assign-only consumer of one partition at a time, as the reader uses it."""

    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.at: tuple[str, int, int] | None = None
        self.eof_sent = False

    def list_topics(self, timeout: float = 0) -> Any:
        return self.broker.list_topics(timeout)

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float = 0) -> tuple[int, int]:
        return self.broker.watermarks(tp.topic, tp.partition)

    def offsets_for_times(self, tps: list[TopicPartition], timeout: float = 0) -> list[TopicPartition]:
        out = []
        for tp in tps:
            records = self.broker.records[tp.topic][tp.partition]
            later = [m.offset_ for m in records if m.timestamp_ >= tp.offset]
            out.append(TopicPartition(tp.topic, tp.partition, later[0] if later else -1))
        return out

    def assign(self, tps: list[TopicPartition]) -> None:
        [tp] = tps
        self.at, self.eof_sent = (tp.topic, tp.partition, tp.offset), False

    def consume(self, num_messages: int = 1, timeout: float = 0) -> list[FakeMessage]:
        assert self.at is not None
        if self.broker.stalled:  # a broker that never answers the fetch
            time.sleep(timeout)
            return []
        topic, partition, offset = self.at
        ready = [m for m in self.broker.records[topic][partition] if m.offset_ >= offset][:num_messages]
        if ready:
            self.at = (topic, partition, ready[-1].offset_ + 1)
            return ready
        if self.eof_sent:
            return []
        self.eof_sent = True
        return [FakeMessage(topic, partition, self.broker.watermarks(topic, partition)[1], None,
                            timestamp_=0, error_=KafkaError(KafkaError._PARTITION_EOF))]

    def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        assert self.at is not None
        return [TopicPartition(self.at[0], self.at[1], self.at[2])]

    def close(self) -> None:
        self.broker.open -= 1


def topics_console(broker: FakeBroker, **reader: Any) -> Console:
    c = console()
    c.extras[TOPIC_READER] = TopicReader({}, None, consumer_factory=broker, admin_factory=broker.admin,
                                         **reader)
    return c


def offsets(html: str) -> list[tuple[int, int]]:
    return [(int(p), int(o)) for p, o in re.findall(r'data-partition="(\d+)" data-offset="(\d+)"', html)]


def link(html: str, name: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" data-testid="{name}">', html)
    return found.group(1).replace("&amp;", "&") if found else None


@pytest.fixture
def orders() -> FakeBroker:
    """``orders``: 3 partitions of JSON orders; offset n of partition p was written at T0 + (3n + p) s."""
    broker = FakeBroker()
    broker.topic("orders", 3)
    for n in range(40):
        for p in range(3):
            status = "DELIVERED" if n % 10 == 0 else "PLACED"
            value = {"order_id": f"o-{p}-{n}", "status": status, "total": 17.8,
                     "lines": [{"sku": f"SKU-{n}"}], "customer": {"email": f"ana{n}@example.com"}}
            broker.add("orders", p, json.dumps(value).encode(), f"o-{p}-{n}".encode(),
                       ts=T0 + (3 * n + p) * 1000)
    return broker


# --- the list ------------------------------------------------------------------------------------

def test_the_list_counts_messages_and_hides_internal_topics_unless_asked() -> None:
    broker = FakeBroker()
    for name in ("orders.placed.v1", "__consumer_offsets", "_schemas", "order-capture.intake.changelog",
                 "crm-updater.contacts.outbox"):
        broker.topic(name, 2)
    for n in range(5):
        broker.add("orders.placed.v1", n % 2, b"{}")
    broker.low[("orders.placed.v1", 0)] = 1  # one record deleted by retention
    browser = signed_in(VIEWER_TOKEN, topics_console(broker))
    page = browser.get("/topics").text
    assert re.findall(r'data-topic="([^"]+)"', page) == ["orders.placed.v1"]
    row = re.search(r'data-topic="orders.placed.v1"(.*?)</tr>', page, re.S)
    assert row and re.findall(r'<td class="num">(\d+)</td>', row.group(1)) == ["2", "4"]
    assert "4 internal topics hidden" in page
    everything = browser.get("/topics?internal=1").text
    assert set(re.findall(r'data-topic="([^"]+)"', everything)) == set(broker.records)


def test_an_unreachable_broker_is_a_503_that_says_so() -> None:
    broker = FakeBroker()
    broker.down = True
    answer = signed_in(OPERATOR_TOKEN, topics_console(broker)).get("/topics")
    assert answer.status_code == 503 and "broker down" in answer.text


# --- paging ------------------------------------------------------------------------------------

def test_newest_first_then_older_pages_show_every_record_once(orders: FakeBroker) -> None:
    browser = signed_in(OPERATOR_TOKEN, topics_console(orders))
    page = browser.get("/topics/orders?limit=50").text
    first = offsets(page)
    assert first[:3] == [(2, 39), (1, 39), (0, 39)], "newest first across partitions"
    assert len(first) == 50
    seen, older, pages = list(first), link(page, "older"), 1
    while older:
        page = browser.get(f"/topics/orders{older}").text
        seen += offsets(page)
        older, pages = link(page, "older"), pages + 1
    assert pages == 3 and len(seen) == 120 and len(set(seen)) == 120
    stamps = [3 * o + p for p, o in seen]
    assert stamps == sorted(stamps, reverse=True), "pages continue in time order"
    assert orders.open == 0, "every consumer was closed"


def test_from_an_offset_forward_and_back(orders: FakeBroker) -> None:
    browser = signed_in(OPERATOR_TOKEN, topics_console(orders))
    page = browser.get("/topics/orders?partition=1&offset=10&limit=5").text
    assert offsets(page) == [(1, o) for o in range(10, 15)], "oldest first from the offset"
    newer = browser.get(f"/topics/orders{link(page, 'newer')}").text
    assert offsets(newer) == [(1, o) for o in range(15, 20)]
    older = browser.get(f"/topics/orders{link(page, 'older')}").text
    assert offsets(older) == [(1, o) for o in range(5, 10)], "the page before, in the page's order"


def test_from_a_time_in_every_partition(orders: FakeBroker) -> None:
    page = signed_in(OPERATOR_TOKEN, topics_console(orders)).get(
        "/topics/orders?since=2026-01-01T00:01:00Z&limit=4").text  # T0 + 60 s = offset 20 of partition 0
    assert offsets(page) == [(0, 20), (1, 20), (2, 20), (0, 21)]


def test_gaps_in_offsets_and_a_start_above_zero_are_read_through() -> None:
    broker = FakeBroker()
    broker.topic("compacted")
    for offset in (5, 6, 9, 14, 15):
        broker.add("compacted", 0, b'"v"', offset=offset)
    broker.low[("compacted", 0)] = 5
    browser = signed_in(OPERATOR_TOKEN, topics_console(broker))
    newest = browser.get("/topics/compacted?limit=2").text
    assert offsets(newest) == [(0, 15), (0, 14)]
    older = browser.get(f"/topics/compacted{link(newest, 'older')}").text
    assert offsets(older) == [(0, 9), (0, 6)]
    from_zero = browser.get("/topics/compacted?partition=0&offset=0&limit=3").text
    assert offsets(from_zero) == [(0, 5), (0, 6), (0, 9)], "an offset before the start starts at the start"


# --- filters -----------------------------------------------------------------------------------

def test_filters_by_key_and_by_field(orders: FakeBroker) -> None:
    browser = signed_in(OPERATOR_TOKEN, topics_console(orders))
    assert offsets(browser.get("/topics/orders?key=o-2-7").text) == [(2, 7)]
    delivered = browser.get("/topics/orders?field=status%3DDELIVERED").text
    assert sorted(offsets(delivered)) == sorted((p, n) for p in range(3) for n in (0, 10, 20, 30))
    assert "12 records matching, 120 scanned" in delivered
    assert offsets(browser.get("/topics/orders?field=lines.sku%3DSKU-33&partition=0").text) == [(0, 33)]
    totals = browser.get("/topics/orders?field=total%3D17.80&limit=5").text
    assert len(offsets(totals)) == 5, "numbers compare as numbers"
    email = browser.get("/topics/orders?field=customer.email%3Dana4%40example.com").text
    assert sorted(offsets(email)) == [(0, 4), (1, 4), (2, 4)], "an operator may search personal data"


def test_a_filter_scans_a_bounded_number_of_records_and_says_where_to_go_on(orders: FakeBroker) -> None:
    browser = signed_in(OPERATOR_TOKEN, topics_console(orders, max_scan=30))
    page = browser.get("/topics/orders?field=status%3DNEVER").text
    assert offsets(page) == [] and "30 scanned" in page
    assert 'data-testid="stopped"' in page and "Stopped at the scan limit" in page
    go_on = link(page, "continue")
    assert go_on and "dir=backward" in go_on
    following = browser.get(f"/topics/orders{go_on}").text
    assert "30 scanned" in following
    at = parse_qs(urlsplit(go_on).query)["at"][0]
    positions = dict(pair.split(":") for pair in at.split(","))
    assert positions == {"0": "30", "1": "30", "2": "30"}, "ten scanned per partition, from the end"


# --- masking and refusals ------------------------------------------------------------------------

@pytest.fixture
def personal() -> FakeBroker:
    broker = FakeBroker()
    broker.topic("customers")
    body = json.dumps({"email": "hanako@example.jp", "first_name": "Hanako", "note": "call 090-1234-5678"})
    value = {"email": "ana.lima@example.com", "first_name": "Ana", "city": "Lisbon",
             "delivery": {"body": body}, "status": "ACTIVE"}
    broker.add("customers", 0, json.dumps(value).encode(), b"ana.lima@example.com",
               headers=[("reply-to", b"ana.lima@example.com"), ("trace", b"abc-1"), ("blob", b"\xff\x00")])
    broker.add("customers", 0, b"\xff\xfe secret ana.lima@example.com", b"k2")
    broker.add("customers", 0, b"plain text from ana.lima@example.com", b"k3")
    broker.add("customers", 0, None, b"k4")
    return broker


def test_an_operator_sees_personal_data_and_a_viewer_sees_it_masked(personal: FakeBroker) -> None:
    operator = html.unescape(signed_in(OPERATOR_TOKEN, topics_console(personal)).get("/topics/customers")
                             .text)
    assert operator.count("ana.lima@example.com") >= 4  # key, header, value, raw text
    assert "Hanako" in operator and "/wA=" in operator  # the binary header, as base64
    viewer = html.unescape(signed_in(VIEWER_TOKEN, topics_console(personal)).get("/topics/customers").text)
    assert "ana.lima@example.com" not in viewer and "a***@example.com" in viewer
    assert 'data-testid="key">a***@example.com<' in viewer, "keys are masked too"
    assert "reply-to: a***@example.com" in viewer and "trace: abc-1" in viewer
    assert '"first_name": "***"' in viewer and '"city": "Lisbon"' in viewer
    assert "hanako@example.jp" not in viewer and "Hanako" not in viewer
    assert "1234" not in viewer, "a phone number inside an embedded JSON body is masked"
    assert "/wA=" not in viewer and "secret" not in viewer, "bytes are not shown to viewers at all"
    assert "plain text from a***@example.com" in viewer
    assert "(empty value" in viewer


def test_a_viewer_may_not_filter_on_personal_data(personal: FakeBroker) -> None:
    viewer = signed_in(VIEWER_TOKEN, topics_console(personal))
    for query in ("field=email%3Dana.lima%40example.com", "field=customer.first_name%3DAna",
                  "field=delivery.phone%3D1", "field=shipping_address.city%3DLisbon", "field=name%3DAna",
                  "field=note%3Dana.lima%40example.com", "key=ana.lima%40example.com"):
        answer = viewer.get(f"/topics/customers?{query}")
        assert answer.status_code == 403, query
        assert "viewers may not filter on personal data" in answer.text
        assert offsets(answer.text) == [], "nothing is read, so nothing is confirmed"
    assert viewer.get("/topics/customers?field=status%3DACTIVE").status_code == 200
    operator = signed_in(OPERATOR_TOKEN, topics_console(personal))
    assert offsets(operator.get("/topics/customers?key=ana.lima%40example.com").text) == [(0, 0)]


@pytest.mark.parametrize(("query", "named"), [
    ("partition=x", "partition:"), ("partition=7", "partition: orders has partitions 0 to 2, not 7"),
    ("partition=-1", "partition:"), ("offset=5", "offset: choose a partition"),
    ("partition=0&offset=abc", "offset:"), ("limit=0", "limit:"), ("limit=501", "limit:"),
    ("since=yesterday", "since:"), ("partition=0&offset=1&since=2026-01-01", "offset and since"),
    ("at=0-5", "at:"), ("at=9:1", "at: orders has partitions"), ("dir=sideways", "dir:"),
    ("order=random", "order:"), ("field=status", "field: expected path=value"),
    ("offset=99999999999999999999999&partition=0", "offset:"), ("partition=%C2%B2", "partition:"),
    ("since=%C2%B2%C2%B2", "since:"),
])
def test_bad_input_is_a_400_naming_the_parameter(orders: FakeBroker, query: str, named: str) -> None:
    answer = signed_in(OPERATOR_TOKEN, topics_console(orders)).get(f"/topics/orders?{query}")
    assert answer.status_code == 400, answer.text
    assert named in answer.text


def test_an_unknown_topic_is_a_404(orders: FakeBroker) -> None:
    answer = signed_in(OPERATOR_TOKEN, topics_console(orders)).get("/topics/no.such.topic")
    assert answer.status_code == 404 and "does not exist" in answer.text


def test_reading_never_commits_and_uses_a_fresh_group(orders: FakeBroker) -> None:
    browser = signed_in(OPERATOR_TOKEN, topics_console(orders))
    browser.get("/topics/orders")
    browser.get("/topics/orders?partition=0&offset=0")
    first, second = orders.configs
    assert first["enable.auto.commit"] is False and first["enable.auto.offset.store"] is False
    assert first["group.id"] != second["group.id"] and first["group.id"].startswith("ecombus-console-browse-")
    assert orders.open == 0


def test_an_unfiltered_page_of_a_many_partition_topic_is_not_cut_by_the_scan_budget() -> None:
    broker = FakeBroker()
    broker.topic("wide", 12)
    for n in range(60):
        for p in range(12):
            broker.add("wide", p, b"{}", ts=T0 + n * 12 + p)
    page = signed_in(OPERATOR_TOKEN, topics_console(broker)).get("/topics/wide?limit=500").text
    assert len(offsets(page)) == 500 and 'data-testid="stopped"' not in page


def test_a_broker_that_does_not_answer_stops_the_page_at_the_time_limit(orders: FakeBroker) -> None:
    orders.stalled = True
    browser = signed_in(OPERATOR_TOKEN, topics_console(orders, read_seconds=0.5))
    started = time.monotonic()
    answer = browser.get("/topics/orders?partition=0&offset=3")
    assert time.monotonic() - started < 2
    assert answer.status_code == 200 and "Stopped at the time limit" in answer.text
    assert "partition=0" in (link(answer.text, "continue") or ""), "the continuation keeps the filters"
    assert offsets(answer.text) == []


def test_a_fifth_page_read_at_once_is_refused_not_queued(orders: FakeBroker) -> None:
    c = topics_console(orders)
    reader = c.extras[TOPIC_READER]
    for _ in range(4):
        reader._slots.acquire()
    answer = signed_in(OPERATOR_TOKEN, c).get("/topics/orders")
    assert answer.status_code == 503 and "being read already" in answer.text
    reader._slots.release()
    assert signed_in(OPERATOR_TOKEN, c).get("/topics/orders").status_code == 200


def test_decimals_timestamps_and_bytes_are_shown_exactly() -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    from services.console.record_view import HIDDEN, shown

    value = {"amount": Decimal("17.8000"), "at": datetime(2025, 6, 3, 1, 12, 43, tzinfo=UTC),
             "body": b'{"email": "ana@example.com"}', "blob": b"\xff\x00", "count": 3}
    assert shown(value, True) == {"amount": "17.8000", "at": "2025-06-03T01:12:43.000Z",
                                  "body": '{"email": "ana@example.com"}', "blob": "/wA=", "count": 3}
    masked = shown(value, False)
    assert masked["body"] == '{"email": "a***@example.com"}' and masked["blob"] == HIDDEN
    assert masked["amount"] == "17.8000"
