"""The CRM flusher: one entry per customer, batches by size and time, partial failures dead-lettered alone."""

from __future__ import annotations

import json
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from bus.contracts.examples import order_placed
from bus.http import ApiClient
from bus.runtime.codec import JsonCodec
from bus.runtime.dlq import header_dict
from bus.runtime.handlers import Consumed
from bus.runtime.retry import RetryPolicy
from bus.sinks import Feed
from services.crm_updater.batcher import ContactFlusher
from services.crm_updater.changelog import contact_upsert
from services.crm_updater.hubspot import HubSpotContacts, RollingWindow
from services.crm_updater.profiles import CustomerBook
from tests.unit.runtime.fakes import FakeProducer

OUTBOX = "crm-updater.contacts.outbox"


def _record(key: str, value: dict[str, Any], offset: int = 0) -> Consumed:
    return Consumed(OUTBOX, 0, offset, key.encode(), json.dumps(value).encode(), [("traceparent", b"00-1")],
                    1_700_000_000_000)


def _flusher(book: CustomerBook, handler: Any, registry: CollectorRegistry,
             retry: RetryPolicy | None = None) -> tuple[ContactFlusher, FakeProducer, list[Any]]:
    bodies: list[Any] = []

    def route(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return handler(bodies[-1])  # type: ignore[no-any-return]

    producer = FakeProducer()
    api = ApiClient("hubspot", "http://crm.test", transport=httpx.MockTransport(route))
    flusher = ContactFlusher(
        Feed("crm-updater", OUTBOX, "g", {}, producer, sleep=lambda _s: None),  # type: ignore[arg-type]
        book=book, codec=JsonCodec(), contacts=HubSpotContacts(api, RollingWindow(100, 10.0)),
        retry=retry or RetryPolicy(max_attempts=1), batch_size=100, linger=1.0, registry=registry)
    return flusher, producer, bodies


def test_partial_failure_dead_letters_exactly_the_rejected_contact() -> None:
    book = CustomerBook()
    records = []
    for i, email in enumerate(["ok1@example.com", "bad@example.com", "ok2@example.com"]):
        state = book.for_email(email)
        records.append(_record(email, contact_upsert(state), offset=10 + i))

    def partial(body: Any) -> httpx.Response:
        return httpx.Response(207, json={"results": [{}, {}], "errors": [
            {"category": "VALIDATION_ERROR", "message": "invalid", "context": {"ids": ["bad@example.com"]}}]})

    registry = CollectorRegistry()
    flusher, producer, bodies = _flusher(book, partial, registry)
    for record in records:
        flusher.add(record)
    flusher.flush()
    assert len(bodies) == 1 and len(bodies[0]["inputs"]) == 3
    assert [r["key"] for r in producer.records] == [b"bad@example.com"]
    dead = producer.records[0]
    assert dead["topic"] == "dlq.crm-updater" and dead["value"] == records[1].value, "original bytes"
    headers = header_dict(dead["headers"])
    assert headers["__connect.errors.topic"] == OUTBOX and headers["__connect.errors.offset"] == "11"
    assert headers["ecombus.errors.kind"] == "permanent" and headers["traceparent"] == "00-1"
    message = headers["__connect.errors.exception.message"]
    assert message == "the CRM rejected the contact: VALIDATION_ERROR: invalid"
    assert "bad@example.com" not in message, "the record's key says whose"
    sample = registry.get_sample_value
    assert sample("ecombus_crm_contacts_total", {"service": "crm-updater", "outcome": "written"}) == 2
    assert sample("ecombus_crm_contacts_total", {"service": "crm-updater", "outcome": "rejected"}) == 1


def test_a_rejected_contact_is_neither_logged_nor_described_by_its_e_mail(caplog: Any) -> None:
    book = CustomerBook()
    email = "花子@例え.jp"
    record = _record(email, contact_upsert(book.for_email(email)), offset=7)

    def refused(body: Any) -> httpx.Response:
        return httpx.Response(207, json={"results": [], "errors": [{
            "category": "VALIDATION_ERROR", "message": f"Email address {email} is invalid",
            "context": {"ids": [email]}}]})

    flusher, producer, _ = _flusher(book, refused, CollectorRegistry())
    flusher.add(record)
    with caplog.at_level("ERROR"):
        flusher.flush()
    [dead] = producer.records
    message = header_dict(dead["headers"])["__connect.errors.exception.message"]
    assert message.startswith("the CRM rejected the contact: VALIDATION_ERROR") and "花子" not in message
    [line] = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert "花子" not in line.getMessage() and (line.topic, line.offset) == (OUTBOX, 7)  # type: ignore[attr-defined]


def test_contacts_are_sent_as_they_stand_now_not_as_the_record_says() -> None:
    book = CustomerBook()
    state = book.for_email("hanako.sato@example.jp")
    state.count_order(order_placed(1042))
    old = _record("hanako.sato@example.jp", contact_upsert(state))
    state.count_order(order_placed(1043))
    flusher, _, bodies = _flusher(book, lambda body: httpx.Response(200, json={"results": []}),
                                  CollectorRegistry())
    flusher.add(old)
    flusher.flush()
    assert bodies[0]["inputs"][0]["properties"]["ecombus_orders_count"] == "2"


def test_crm_down_beyond_the_budget_dead_letters_the_batch_as_transient() -> None:
    book = CustomerBook()
    records = [_record(e, contact_upsert(book.for_email(e))) for e in ("a@example.com", "b@example.com")]
    flusher, producer, bodies = _flusher(book, lambda body: httpx.Response(503, json={}), CollectorRegistry(),
                                         retry=RetryPolicy(max_attempts=4, budget_seconds=60))
    for record in records:
        flusher.add(record)
    flusher.flush()
    assert len(bodies) == 4, "retried within the budget"
    assert sorted(r["key"] for r in producer.records) == [b"a@example.com", b"b@example.com"]
    assert {header_dict(r["headers"])["ecombus.errors.kind"] for r in producer.records} == {"transient"}
    assert {header_dict(r["headers"])["ecombus.errors.attempts"] for r in producer.records} == {"4"}


def test_records_of_one_customer_coalesce_into_one_contact_and_a_full_batch_is_due() -> None:
    book = CustomerBook()
    registry = CollectorRegistry()
    flusher, _, bodies = _flusher(book, lambda body: httpx.Response(200, json={"results": []}), registry)
    state = book.for_email("a@example.com")
    for offset in range(3):
        flusher.add(_record("a@example.com", contact_upsert(state), offset))
    assert [r.offset for r in flusher.pending.values()] == [2] and not flusher.batch.due()
    assert registry.get_sample_value("ecombus_crm_coalesced_updates_total", {"service": "crm-updater"}) == 2
    for i in range(99):
        flusher.add(_record(f"{i}@example.com", contact_upsert(book.for_email(f"{i}@example.com")), 10 + i))
    assert flusher.batch.due(), "100 customers: full"
    flusher.flush()
    assert [len(b["inputs"]) for b in bodies] == [100] and flusher.pending == {}
