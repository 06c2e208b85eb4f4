"""The dead-letter pages: counts, one decoded (masked for viewers), replays previewed then produced
with their headers, audit records and rate, edit-and-replay validated against the writer schema."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bus.contracts.examples import order_placed
from bus.errors import TransientError
from bus.runtime.audit import AUDIT_TOPIC
from bus.runtime.rate import TokenBucket
from bus.serde.avro import AvroDecoder, AvroEncoder
from services.console.context import Console
from tests.unit.console.fakes import (
    OPERATOR_TOKEN,
    VIEWER_TOKEN,
    client,
    csrf_of,
    dead_letter,
    dead_letter_console,
    signed_in,
)
from tests.unit.serde.fake_registry import FakeRegistry

ORDER_JSON = json.dumps({"id": 6120004415, "email": "hanako.sato@example.jp",
                         "total_price": "17.80"}).encode()
ERROR_HEADERS = ("__connect.errors.", "ecombus.errors.")


def json_dead_letters() -> list[Any]:
    return [
        dead_letter("inventory-sync", 0, "orders.placed.v1", ORDER_JSON, key=b"shopify:hanako:6120004415"),
        dead_letter("inventory-sync", 1, "orders.placed.v1", b'{"id": 2}', key=b"shopify:hanako:2",
                    error=KeyError("sku")),
        dead_letter("router", 0, "orders.placed.v1", b'{"id": 3}', key=b"shopify:hanako:3", route="to-erp",
                    handler="to-erp+to-review"),
    ]


def producer_of(c: Console) -> Any:
    return c.producer


def form_post(browser: TestClient, path: str, data: dict[str, Any], page: str = "/dead-letters") -> Any:
    """A POST from a page of the console, with that page's CSRF token."""
    csrf = csrf_of(browser.get(page).text)
    return browser.post(path, data={**data, "csrf_token": csrf}, follow_redirects=False)


def seen(answer: Any) -> str:
    """A page's text as a person reads it (entities such as &#34; unescaped)."""
    return html.unescape(answer.text)


def headers_of(record: dict[str, Any]) -> dict[str, str]:
    return {k: v.decode() for k, v in record["headers"]}


# -- reading -------------------------------------------------------------------------------------


@pytest.mark.parametrize("indexed", [True, False])
def test_the_summary_counts_pending_dead_letters_per_service_and_reason_with_the_oldest_age(
        indexed: bool) -> None:
    c = dead_letter_console(json_dead_letters(), indexed=indexed)
    page = signed_in(VIEWER_TOKEN, c).get("/dead-letters")
    assert page.status_code == 200
    rows = re.findall(r"<tr>\s*<td><a [^>]*>([^<]+)</a></td>\s*<td><a [^>]*>([^<]+)</a></td>\s*"
                      r'<td class="num">(\d+)</td>\s*<td>([^<]+)</td>', page.text)
    assert sorted(rows) == [("inventory-sync", "KeyError: &#39;sku&#39;", "1", "2 h 46 min"),
                            ("inventory-sync", "ValueError: unknown SKU in line 1", "1", "2 h 46 min"),
                            ("router", "ValueError: unknown SKU in line 1", "1", "2 h 46 min")]
    assert 'data-testid="service-inventory-sync"' in page.text and "2 pending" in page.text


def test_the_list_filters_by_reason_handler_route_and_key_and_offers_a_selection_to_operators() -> None:
    c = dead_letter_console(json_dead_letters())
    operator = signed_in(OPERATOR_TOKEN, c)
    listed = operator.get("/dead-letters/inventory-sync", params={"reason": "KeyError: 'sku'"})
    assert 'value="dlq.inventory-sync/0/1"' in listed.text and "dlq.inventory-sync/0/0" not in listed.text
    by_key = operator.get("/dead-letters/inventory-sync", params={"key": "6120004415"})
    assert 'value="dlq.inventory-sync/0/0"' in by_key.text and "dlq.inventory-sync/0/1" not in by_key.text
    by_route = operator.get("/dead-letters/router", params={"route": "to-erp"})
    assert 'value="dlq.router/0/0"' in by_route.text
    assert "dlq.router/0/0" not in operator.get("/dead-letters/router", params={"route": "other"}).text
    viewer = signed_in(VIEWER_TOKEN, c).get("/dead-letters/inventory-sync")
    assert "dlq.inventory-sync/0/0" in viewer.text and 'type="checkbox" name="id"' not in viewer.text
    assert signed_in(VIEWER_TOKEN, c).get("/dead-letters/no-such-service").status_code == 404


def test_one_dead_letter_is_decoded_with_every_header_and_masked_for_viewers() -> None:
    c = dead_letter_console(json_dead_letters(),
                            order_ids={"dlq.inventory-sync/0/0": "shopify:hanako:6120004415"})
    operator = signed_in(OPERATOR_TOKEN, c).get("/dead-letters/dlq.inventory-sync/0/0")
    assert operator.status_code == 200
    assert "hanako.sato@example.jp" in operator.text, "operators see personal data"
    assert '"total_price": "17.80"' in seen(operator)
    for header in ("traceparent", "__connect.errors.topic", "__connect.errors.exception.message",
                   "ecombus.errors.handler", "__connect.errors.exception.stacktrace"):
        assert f'<th class="mono">{header}</th>' in operator.text, header
    origin = 'href="/topics/orders.placed.v1?partition=0&amp;offset=7&amp;limit=1">orders.placed.v1/0/7<'
    assert origin in operator.text
    assert 'href="/journeys/shopify%3Ahanako%3A6120004415"' in operator.text
    viewer = signed_in(VIEWER_TOKEN, c).get("/dead-letters/dlq.inventory-sync/0/0")
    assert viewer.status_code == 200
    assert "hanako.sato@example.jp" not in viewer.text and "h***@example.jp" in viewer.text
    assert 'data-testid="replay-one"' not in viewer.text and 'data-testid="edit-link"' not in viewer.text
    assert signed_in(VIEWER_TOKEN, c).get("/dead-letters/orders.placed.v1/0/0").status_code == 404, \
        "only dead-letter topics are shown here"


# -- who may replay ------------------------------------------------------------------------------


@pytest.mark.parametrize("path, data", [
    ("/dead-letters/replay-preview", {"id": "dlq.inventory-sync/0/0"}),
    ("/dead-letters/replay-preview", {"service": "inventory-sync"}),
    ("/dead-letters/replay", {"ids": "dlq.inventory-sync/0/0"}),
    ("/dead-letters/dlq.inventory-sync/0/0/edit", {"text": "{}", "action": "replay"}),
])
def test_a_viewer_cannot_replay_anything(path: str, data: dict[str, str]) -> None:
    c = dead_letter_console(json_dead_letters())
    answer = form_post(signed_in(VIEWER_TOKEN, c), path, data)
    assert answer.status_code == 403 and "for operators" in answer.text
    assert producer_of(c).records == []
    bearer = client(c).post(path, data=data, headers={"authorization": f"Bearer {VIEWER_TOKEN}"})
    assert bearer.status_code == 403 and producer_of(c).records == []
    editor = signed_in(VIEWER_TOKEN, c).get("/dead-letters/dlq.inventory-sync/0/0/edit")
    assert editor.status_code == 403 and "hanako" not in editor.text


def test_a_replay_without_the_csrf_token_is_refused() -> None:
    c = dead_letter_console(json_dead_letters())
    operator = signed_in(OPERATOR_TOKEN, c)
    for data in ({"ids": "dlq.inventory-sync/0/0"},
                 {"ids": "dlq.inventory-sync/0/0", "csrf_token": "forged"}):
        assert operator.post("/dead-letters/replay", data=data).status_code == 403
    assert producer_of(c).records == []


# -- replay --------------------------------------------------------------------------------------


def test_the_preview_shows_what_will_be_produced_and_where_and_produces_nothing() -> None:
    c = dead_letter_console(json_dead_letters())
    page = form_post(signed_in(OPERATOR_TOKEN, c), "/dead-letters/replay-preview",
                     {"id": ["dlq.inventory-sync/0/0", "dlq.router/0/0"]})
    assert page.status_code == 200
    assert producer_of(c).records == [], "a preview is a dry run"
    assert 'data-testid="count"><strong>2</strong>' in page.text
    assert '<td class="mono">orders.placed.v1</td><td class="num">2</td>' in page.text
    samples = page.text.split('data-testid="sample"')[1:]
    assert len(samples) == 2
    assert 'data-testid="view-key">shopify:hanako:6120004415<' in samples[0]
    assert '<th class="mono">ecombus.replay.for</th><td class="mono">inventory-sync</td>' in samples[0]
    assert '<th class="mono">ecombus.replayed.by</th><td class="mono">ana</td>' in samples[0]
    assert "__connect.errors" not in samples[0], "the error headers are not replayed"
    assert '<th class="mono">ecombus.replay.route</th><td class="mono">to-erp</td>' in samples[1]
    assert "hanako.sato@example.jp" in samples[0], "the decoded value"
    assert 'name="ids" value="dlq.inventory-sync/0/0 dlq.router/0/0"' in page.text


def test_a_confirmed_replay_produces_exactly_the_dead_letters_with_their_headers_and_audits_them() -> None:
    records = json_dead_letters()
    c = dead_letter_console(records, order_ids={"dlq.inventory-sync/0/0": "shopify:hanako:6120004415"})
    operator = signed_in(OPERATOR_TOKEN, c)
    answer = form_post(operator, "/dead-letters/replay", {"ids": "dlq.inventory-sync/0/0 dlq.router/0/0"})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/dead-letters/replays/")
    produced = producer_of(c).to("orders.placed.v1")
    assert len(produced) == 2
    for record, original in zip(produced, (records[0], records[2]), strict=True):
        assert (record["key"], record["value"], record["timestamp"]) == (
            original.key, original.value, original.timestamp_ms)
        kept = [(k, v) for k, v in original.headers if not k.startswith(ERROR_HEADERS)]
        assert record["headers"][:len(kept)] == kept, "the original headers, minus the error headers"
    first, second = (headers_of(r) for r in produced)
    assert first["ecombus.replayed.from"] == "dlq.inventory-sync/0/0"
    assert first["ecombus.replayed.by"] == "ana"
    assert first["ecombus.replay.for"] == "inventory-sync" and "ecombus.replay.route" not in first
    assert (second["ecombus.replay.for"], second["ecombus.replay.route"]) == ("router", "to-erp")
    audit = [json.loads(r["value"]) for r in producer_of(c).to(AUDIT_TOPIC)]
    assert [(a["service"], a["handler"], a["outcome"], a["actor"], a["topic"], a["partition"], a["offset"])
            for a in audit] == [("console", "replay", "REPLAYED", "ana", "dlq.inventory-sync", 0, 0),
                                ("console", "replay", "REPLAYED", "ana", "dlq.router", 0, 0)]
    assert audit[0]["order_id"] == "shopify:hanako:6120004415"
    assert [m[:4] for m in c.index.marked] == [("dlq.inventory-sync", 0, 0, "ana"),  # type: ignore[union-attr]
                                               ("dlq.router", 0, 0, "ana")]
    job = operator.get(answer.headers["location"])
    assert 'data-testid="job-acknowledged">2<' in job.text and 'data-testid="job-audited">2<' in job.text
    assert "pill good" in job.text and 'http-equiv="refresh"' not in job.text
    page = operator.get("/dead-letters/dlq.inventory-sync/0/0")
    assert "replayed</span> by ana" in page.text


def test_a_filter_replays_every_pending_match_and_nothing_else() -> None:
    c = dead_letter_console(json_dead_letters())
    operator = signed_in(OPERATOR_TOKEN, c)
    preview = form_post(operator, "/dead-letters/replay-preview",
                        {"service": "inventory-sync", "reason": "KeyError: 'sku'"})
    assert 'name="ids" value="dlq.inventory-sync/0/1"' in preview.text and producer_of(c).records == []
    form_post(operator, "/dead-letters/replay", {"ids": "dlq.inventory-sync/0/1"})
    assert [headers_of(r)["ecombus.replayed.from"] for r in producer_of(c).to("orders.placed.v1")] == [
        "dlq.inventory-sync/0/1"]
    again = form_post(operator, "/dead-letters/replay-preview",
                      {"service": "inventory-sync", "reason": "KeyError: 'sku'"})
    assert 'data-testid="nothing"' in again.text, "a replayed dead letter is no longer pending"


def test_a_replay_is_refused_beyond_the_maximum_and_a_filter_preview_takes_only_that_many() -> None:
    records = [dead_letter("crm-updater", i, "customers.profiles.v1", b"{}") for i in range(3)]
    c = dead_letter_console(records, replay_max_records=2)
    operator = signed_in(OPERATOR_TOKEN, c)
    preview = form_post(operator, "/dead-letters/replay-preview", {"service": "crm-updater"})
    assert 'name="ids" value="dlq.crm-updater/0/0 dlq.crm-updater/0/1"' in preview.text
    assert "only the first 2" in preview.text
    ids = " ".join(f"dlq.crm-updater/0/{i}" for i in range(3))
    assert form_post(operator, "/dead-letters/replay", {"ids": ids}).status_code == 400
    assert form_post(operator, "/dead-letters/replay", {"ids": "orders.placed.v1/0/1"}).status_code == 400
    assert producer_of(c).records == []


def test_replays_keep_to_the_rate_limit() -> None:
    now = [0.0]
    bucket = TokenBucket(2.0, 1, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    records = [dead_letter("crm-updater", i, "customers.profiles.v1", b"{}") for i in range(5)]
    c = dead_letter_console(records, bucket=bucket)
    producer_of(c).clock = lambda: now[0]
    form_post(signed_in(OPERATOR_TOKEN, c), "/dead-letters/replay",
              {"ids": " ".join(f"dlq.crm-updater/0/{i}" for i in range(5))})
    times = [r["at"] for r in producer_of(c).to("customers.profiles.v1")]
    assert times == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0]), "two per second, evenly"


def test_a_failed_delivery_is_reported_and_not_marked_replayed() -> None:
    c = dead_letter_console(json_dead_letters())
    producer_of(c).failing = ("orders.placed.v1",)
    answer = form_post(signed_in(OPERATOR_TOKEN, c), "/dead-letters/replay",
                       {"ids": "dlq.inventory-sync/0/0"})
    job = signed_in(OPERATOR_TOKEN, c).get(answer.headers["location"])
    assert 'data-testid="job-failed">1<' in job.text and "finished with problems" in job.text
    assert c.index.marked == [] and producer_of(c).to(AUDIT_TOPIC) == []  # type: ignore[union-attr]


def test_without_a_producer_the_console_says_it_cannot_replay() -> None:
    c = dead_letter_console(json_dead_letters())
    c.producer = None
    answer = form_post(signed_in(OPERATOR_TOKEN, c), "/dead-letters/replay",
                       {"ids": "dlq.inventory-sync/0/0"})
    assert answer.status_code == 503 and "cannot replay" in answer.text


# -- edit and replay -----------------------------------------------------------------------------


@pytest.fixture
def avro() -> tuple[AvroEncoder, AvroDecoder]:
    registry = FakeRegistry().client()
    return AvroEncoder(registry), AvroDecoder(registry, use_contracts=False)


def avro_console(avro: tuple[AvroEncoder, AvroDecoder]) -> tuple[Console, Any]:
    encoder, decoder = avro
    value = encoder.encode("orders.placed.v1", order_placed(line_count=2))
    record = dead_letter("inventory-sync", 0, "orders.placed.v1", value, key=b"shopify:hanako:6120004415")
    return dead_letter_console([record], decoder=decoder), record


def test_an_invalid_edit_is_refused_naming_the_field_and_nothing_is_produced(
        avro: tuple[AvroEncoder, AvroDecoder]) -> None:
    c, _ = avro_console(avro)
    operator = signed_in(OPERATOR_TOKEN, c)
    editor = operator.get("/dead-letters/dlq.inventory-sync/0/0/edit")
    assert editor.status_code == 200 and '"amount": "17.8000"' in seen(editor)
    text = re.search(r'<textarea name="text" class="editor"[^>]*>\n(.*?)</textarea>', editor.text, re.S)
    assert text
    edited = html.unescape(text.group(1)).replace('"quantity": 2', '"quantity": "two (Hanako)"', 1)
    for action in ("preview", "replay"):
        answer = operator.post("/dead-letters/dlq.inventory-sync/0/0/edit",
                               data={"text": edited, "action": action, "csrf_token": csrf_of(editor.text)})
        assert answer.status_code == 422
        assert "lines[0].quantity: expected an integer" in answer.text
        assert "two (Hanako)" not in answer.text.split('data-testid="edit-error"')[1].split("</p>")[0]
    assert producer_of(c).records == []


def test_an_edit_is_previewed_then_produced_with_the_original_schema_id_and_the_dead_letter_kept(
        avro: tuple[AvroEncoder, AvroDecoder]) -> None:
    c, record = avro_console(avro)
    operator = signed_in(OPERATOR_TOKEN, c)
    editor = operator.get("/dead-letters/dlq.inventory-sync/0/0/edit")
    text = re.search(r'class="editor"[^>]*>\n(.*?)</textarea>', editor.text, re.S)
    assert text
    edited = html.unescape(text.group(1)).replace('"sku": "MATCHA-40G"', '"sku": "MATCHA-040G"', 1)
    data = {"text": edited, "csrf_token": csrf_of(editor.text)}
    preview = operator.post("/dead-letters/dlq.inventory-sync/0/0/edit", data={**data, "action": "preview"})
    assert preview.status_code == 200 and producer_of(c).records == []
    assert "MATCHA-040G" in preview.text.split('data-testid="edit-preview"')[1]
    assert '<th class="mono">ecombus.edited.by</th><td class="mono">ana</td>' in preview.text
    answer = operator.post("/dead-letters/dlq.inventory-sync/0/0/edit", data={**data, "action": "replay"},
                           follow_redirects=False)
    assert answer.status_code == 303
    [produced] = producer_of(c).to("orders.placed.v1")
    assert produced["value"][:5] == record.value[:5], "the same schema id"
    decoded = avro[1].decode("orders.placed.v1", produced["value"])
    assert [line["sku"] for line in decoded["lines"]] == ["MATCHA-040G", "HOJICHA-100G"]
    assert headers_of(produced)["ecombus.edited.by"] == "ana"
    [audit] = [json.loads(r["value"]) for r in producer_of(c).to(AUDIT_TOPIC)]
    assert (audit["handler"], audit["actor"]) == ("edit-and-replay", "ana")
    assert c.extras["dead_letters.reader"].records[("dlq.inventory-sync", 0, 0)] is record, "original kept"


def raw_delivery(encoder: AvroEncoder, body: bytes) -> bytes:
    return encoder.encode("intake.storefronts.v1", {
        "meta": {"event_id": "d-1", "occurred_at": 1_749_000_000_000,
                 "source": {"platform": "shopify", "system": "hanako.myshopify.com"},
                 "correlation_id": "shopify:hanako.myshopify.com:6120004415", "causation_id": None},
        "identity": "shopify:hanako.myshopify.com:6120004415", "channel": "webhook", "topic": "orders/create",
        "path": "/webhooks/shopify", "headers": {"x-shopify-topic": "orders/create"}, "body": body,
        "received_by": "order-capture@host", "remote_addr": None})


def test_a_raw_delivery_s_body_is_edited_as_json_and_the_envelope_kept(
        avro: tuple[AvroEncoder, AvroDecoder]) -> None:
    encoder, decoder = avro
    body = b'{"id":6120004415,"total_price":"17.80","email":"hanako@example.jp"}'
    record = dead_letter("order-capture", 0, "intake.storefronts.v1", raw_delivery(encoder, body))
    c = dead_letter_console([record], decoder=decoder)
    operator = signed_in(OPERATOR_TOKEN, c)
    editor = operator.get("/dead-letters/dlq.order-capture/0/0/edit")
    assert "The JSON body of this raw delivery" in editor.text
    assert '\n  "total_price": "17.80",\n' in seen(editor), "pretty JSON"
    viewer = signed_in(VIEWER_TOKEN, c).get("/dead-letters/dlq.order-capture/0/0")
    assert "hanako@example.jp" not in viewer.text and '"total_price": "17.80"' in seen(viewer)
    data = {"csrf_token": csrf_of(editor.text), "action": "replay"}
    bad = operator.post("/dead-letters/dlq.order-capture/0/0/edit", data={**data, "text": '{"id": 1,'})
    assert bad.status_code == 422 and "not valid JSON" in bad.text and producer_of(c).records == []
    fixed = '{\n  "id": 6120004415,\n  "total_price": "17.90"\n}'
    assert operator.post("/dead-letters/dlq.order-capture/0/0/edit", data={**data, "text": fixed},
                         follow_redirects=False).status_code == 303
    [produced] = producer_of(c).to("intake.storefronts.v1")
    value = decoder.decode("intake.storefronts.v1", produced["value"])
    assert json.loads(value["body"]) == {"id": 6120004415, "total_price": "17.90"}
    assert value["identity"] == "shopify:hanako.myshopify.com:6120004415"
    assert value["meta"]["event_id"] == "d-1", "the envelope as it was"
    assert headers_of(produced)["ecombus.replay.for"] == "order-capture"


def test_a_broker_that_does_not_answer_gives_a_page_saying_so() -> None:
    c = dead_letter_console(json_dead_letters())

    def down(*_: Any) -> Any:
        raise TransientError("dlq.inventory-sync: partitions [0] not read within 30s")

    c.extras["dead_letters.reader"].fetch = down
    page = signed_in(VIEWER_TOKEN, c).get("/dead-letters/dlq.inventory-sync/0/0")
    assert page.status_code == 503 and "did not answer" in page.text and "ecombus console" in page.text
