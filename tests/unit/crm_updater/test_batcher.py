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
from services.crm_updater.batcher import ContactBatch, ContactFlusher
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
        service="crm-updater", topic=OUTBOX, group_id="g", client={}, book=book, codec=JsonCodec(),
        contacts=HubSpotContacts(api, RollingWindow(100, 10.0)), producer=producer,  # type: ignore[arg-type]
        retry=retry or RetryPolicy(max_attempts=1), batch_size=100, linger=1.0, registry=registry,
        sleep=lambda _s: None)
    return flusher, producer, bodies


def test_batch_keeps_the_newest_record_per_customer_and_is_due_by_size_or_time() -> None:
    now = [0.0]
    batch = ContactBatch(size=3, linger=1.0, clock=lambda: now[0])
    assert not batch.due()
    batch.add(_record("a@example.com", {"v": 1}, 0))
    batch.add(_record("a@example.com", {"v": 2}, 1))
    batch.add(_record("b@example.com", {"v": 1}, 2))
    assert (len(batch), batch.coalesced, batch.due()) == (2, 1, False)
    now[0] = 1.0
    assert batch.due(), "the first record has waited the linger time"
    batch.add(_record("c@example.com", {"v": 1}, 3))
    taken = batch.take()
    assert [r.offset for r in taken] == [1, 2, 3] and len(batch) == 0 and not batch.due()
    for i in range(3):
        batch.add(_record(f"{i}@example.com", {}, i))
    assert batch.due(), "full"


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
    flusher.flush(records)
    assert len(bodies) == 1 and len(bodies[0]["inputs"]) == 3
    assert [r["key"] for r in producer.records] == [b"bad@example.com"]
    dead = producer.records[0]
    assert dead["topic"] == "dlq.crm-updater" and dead["value"] == records[1].value, "original bytes"
    headers = header_dict(dead["headers"])
    assert headers["__connect.errors.topic"] == OUTBOX and headers["__connect.errors.offset"] == "11"
    assert headers["ecombus.errors.kind"] == "permanent" and headers["traceparent"] == "00-1"
    assert "bad@example.com" in headers["__connect.errors.exception.message"]
    sample = registry.get_sample_value
    assert sample("ecombus_crm_contacts_total", {"service": "crm-updater", "outcome": "written"}) == 2
    assert sample("ecombus_crm_contacts_total", {"service": "crm-updater", "outcome": "rejected"}) == 1


def test_contacts_are_sent_as_they_stand_now_not_as_the_record_says() -> None:
    book = CustomerBook()
    state = book.for_email("hanako.sato@example.jp")
    state.count_order(order_placed(1042))
    old = _record("hanako.sato@example.jp", contact_upsert(state))
    state.count_order(order_placed(1043))
    flusher, _, bodies = _flusher(book, lambda body: httpx.Response(200, json={"results": []}),
                                  CollectorRegistry())
    flusher.flush([old])
    assert bodies[0]["inputs"][0]["properties"]["ecombus_orders_count"] == "2"


def test_crm_down_beyond_the_budget_dead_letters_the_batch_as_transient() -> None:
    book = CustomerBook()
    records = [_record(e, contact_upsert(book.for_email(e))) for e in ("a@example.com", "b@example.com")]
    flusher, producer, bodies = _flusher(book, lambda body: httpx.Response(503, json={}), CollectorRegistry(),
                                         retry=RetryPolicy(max_attempts=4, budget_seconds=60))
    flusher.flush(records)
    assert len(bodies) == 4, "retried within the budget"
    assert sorted(r["key"] for r in producer.records) == [b"a@example.com", b"b@example.com"]
    assert {header_dict(r["headers"])["ecombus.errors.kind"] for r in producer.records} == {"transient"}
    assert {header_dict(r["headers"])["ecombus.errors.attempts"] for r in producer.records} == {"4"}
