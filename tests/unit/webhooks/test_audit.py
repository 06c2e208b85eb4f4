"""Audit records of webhooks: one per answered webhook that carried events, never failing it."""

from __future__ import annotations

from typing import Any

from bus.contracts.examples import order_placed
from bus.runtime.codec import JsonCodec
from bus.webhooks.audit import WebhookAudit
from bus.webhooks.publisher import Publication, Published, Record


class Producer:
    def __init__(self, error: Exception | None = None) -> None:
        self.records: list[tuple[str, bytes | None, Any]] = []
        self.error = error

    def produce(self, topic: str, value: bytes | None, key: Any = None, **_: Any) -> None:
        if self.error:
            raise self.error
        self.records.append((topic, value, key))


def test_one_record_per_outcome_naming_the_order() -> None:
    order = order_placed()
    publication = Publication(("evt",), (Record("orders.placed.v1", order.order_id, order, "shopify:evt"),))
    producer, codec = Producer(), JsonCodec()
    audit = WebhookAudit("order-capture", producer, codec, clock=lambda: 1_749_000_000.0)  # type: ignore[arg-type]
    audit.record("/webhooks/shopify", "shopify", publication, Published("published", ["shopify:evt"]), 0.004)
    audit.record("/webhooks/shopify", "shopify", publication, Published("duplicate", ["shopify:evt"]), 0.001)
    audit.record("/webhooks/shopify", "shopify", Publication.ignored("x"), Published("ignored", []), 0.001)
    records = [codec.decode("bus.audit.v1", value or b"") for _, value, _ in producer.records]
    assert [(r["outcome"], r["handler"], r["topic"], r["order_id"]) for r in records] == [
        ("OK", "webhook:shopify", "http:/webhooks/shopify", order.order_id),
        ("DUPLICATE", "webhook:shopify", "http:/webhooks/shopify", order.order_id)]
    assert records[0]["meta"]["event_id"] != records[1]["meta"]["event_id"]
    assert records[0]["meta"]["correlation_id"] == order.order_id
    assert producer.records[0][2] == order.order_id.encode()


def test_a_failing_audit_never_fails_the_webhook() -> None:
    order = order_placed()
    publication = Publication(("evt",), (Record("orders.placed.v1", order.order_id, order, "e"),))
    audit = WebhookAudit("order-capture", Producer(RuntimeError("unknown topic")), JsonCodec())  # type: ignore[arg-type]
    audit.record("/webhooks/shopify", "shopify", publication, Published("published", ["e"]), 0.001)
