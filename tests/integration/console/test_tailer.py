"""The index tailer on a real broker and registry: rebuild from the topics, tail, rebuild again."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client import CollectorRegistry

from bus.contracts import models as m
from bus.contracts import schema_for_topic
from bus.contracts.examples import examples, order_placed
from bus.serde import AvroEncoder, RegistryClient
from services.console.decoding import RecordDecoder
from services.console.index import JourneyIndex, Topics
from services.console.ingest import READ_FIELDS
from services.console.journey import Journey
from services.console.tailer import IndexTailer, consumer_config
from tests.integration.runtime.kafka_io import wait_for

pytestmark = pytest.mark.integration

ORDER = order_placed(1042)


def timeline(journey: Journey | None) -> list[tuple[str, str, str]]:
    assert journey is not None
    return [(s.label, s.outcome, s.where) for s in journey.steps]


class Bus:
    """Our topics under unique names, written as the services write them (Avro, registered)."""

    def __init__(self, bootstrap: str, registry_url: str, admin: AdminClient,
                 new_topic: Callable[..., str]) -> None:
        self.bootstrap, self.admin = bootstrap, admin
        prefix = f"test.console.{uuid.uuid4().hex[:8]}.dlq."
        self.topics = Topics(audit=new_topic("audit"), placed=new_topic("placed"), status=new_topic("status"),
                             reservations=new_topic("reservations"), shipments=new_topic("shipments"),
                             intake=(new_topic("intake"),), dlq_prefix=prefix)
        contracts = {self.topics.audit: "bus.audit.v1", self.topics.placed: "orders.placed.v1",
                     self.topics.status: "orders.status.v1", self.topics.intake[0]: "intake.storefronts.v1"}
        self.encoder = AvroEncoder(RegistryClient(registry_url),
                                   {topic: schema_for_topic(ours) for topic, ours in contracts.items()})
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
        self.dead_letter_topic("router")

    def dead_letter_topic(self, service: str) -> str:
        name = f"{self.topics.dlq_prefix}{service}"
        self.admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(30)
        return name

    def send(self, topic: str, value: Any, raw: bytes | None = None,
             headers: list[tuple[str, bytes]] | None = None, at: int = 0) -> tuple[str, int, int]:
        """Produce one record (encoded unless ``raw``; timestamp ``at``, or now) and return its
        position once acknowledged."""
        where: list[tuple[str, int, int]] = []
        data = raw if raw is not None else self.encoder.encode(topic, value)
        def delivered(err: Any, msg: Any) -> None:
            where.append((msg.topic(), msg.partition(), msg.offset()))

        self.producer.produce(topic, data, ORDER.order_id.encode(), headers=headers, on_delivery=delivered,
                              timestamp=at)
        assert self.producer.flush(30) == 0 and where
        return where[0]

    def audit_in_a_transaction(self, values: list[dict[str, Any]]) -> None:
        """Audit records as an exactly-once service writes them (the commit marker follows them)."""
        producer = Producer({"bootstrap.servers": self.bootstrap, "transactional.id": uuid.uuid4().hex})
        producer.init_transactions(30)
        producer.begin_transaction()
        for value in values:
            producer.produce(self.topics.audit, self.encoder.encode(self.topics.audit, value),
                             ORDER.order_id.encode())
        producer.commit_transaction(30)


def audit(service: str, handler: str, outcome: str, at: int, where: tuple[str, int, int],
          route: str | None = None, dlq: str | None = None) -> dict[str, Any]:
    error = None
    if outcome == "DEAD_LETTERED":
        error = {"kind": "PERMANENT", "class_name": "services.router.errors.Refused",
                 "message": "ERP answered 422", "dlq_topic": dlq}
    return {"meta": {"event_id": uuid.uuid4().hex, "occurred_at": at,
                     "source": {"platform": "ecombus", "system": service}, "correlation_id": ORDER.order_id,
                     "causation_id": None},
            "service": service, "event_id": "evt", "outcome": outcome, "duration_seconds": 0.01,
            "attempts": 1, "error": error, "topic": where[0], "partition": where[1], "offset": where[2],
            "handler": handler,
            "route": route, "step": None, "order_id": ORDER.order_id}


@contextmanager
def tailing(bus: Bus, registry_url: str, path: Path,
            metrics: CollectorRegistry | None = None) -> Iterator[tuple[JourneyIndex, IndexTailer]]:
    index = JourneyIndex(path, bus.topics)
    tailer = IndexTailer(index, lambda: Consumer(consumer_config({"bootstrap.servers": bus.bootstrap})),
                         RecordDecoder(RegistryClient(registry_url), keep=READ_FIELDS).decode, metrics,
                         refresh_seconds=1.0, poll_seconds=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=tailer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield index, tailer
    finally:
        stop.set()
        thread.join(30)
        index.close()
    assert not thread.is_alive()


def test_the_index_is_rebuilt_from_the_topics_then_kept_current(
        kafka_bootstrap: str, kafka_admin: AdminClient, schema_registry_url: str,
        new_topic: Callable[..., str], tmp_path: Path) -> None:
    bus = Bus(kafka_bootstrap, schema_registry_url, kafka_admin, new_topic)
    t0 = 1_750_000_000_000
    ex = examples()
    intake = bus.topics.intake[0]
    delivery = bus.send(intake, {
        "meta": {"event_id": "d-1", "occurred_at": t0, "source": {"platform": "shopify", "system": "shop"},
                 "correlation_id": ORDER.order_id, "causation_id": None},
        "identity": ORDER.order_id, "channel": "webhook", "topic": "orders/create",
        "path": "/webhooks/shopify", "headers": {}, "body": b"{}", "received_by": "order-capture@web-1",
        "remote_addr": "203.0.113.7"})
    placed = bus.send(bus.topics.placed, ORDER, at=t0 + 100)
    letter = bus.send(f"{bus.topics.dlq_prefix}router", None, raw=b"\x00\x00\x00\x00\x01original", headers=[
        ("__connect.errors.topic", placed[0].encode()),
        ("__connect.errors.partition", str(placed[1]).encode()),
        ("__connect.errors.offset", str(placed[2]).encode()),
        ("__connect.errors.exception.class.name", b"services.router.errors.Refused"),
        ("__connect.errors.exception.message", b"ERP answered 422"),
        ("ecombus.errors.route", b"orders-to-erp-cxml")], at=t0 + 450)
    bus.audit_in_a_transaction([
        audit("order-capture", "interpret_delivery", "OK", t0 + 50, delivery),
        audit("router", "orders-to-erp-csv+orders-to-erp-cxml", "DEAD_LETTERED", t0 + 400, placed,
              route="orders-to-erp-cxml", dlq=letter[0])])
    bus.send(bus.topics.audit, None, raw=b'{"service": "a JSON value: not one of ours"}')
    bus.send(bus.topics.audit, None, raw=b"\x00\x00\x00\x00\x01\xff\xff")  # framed, but corrupt
    metrics = CollectorRegistry()

    with tailing(bus, schema_registry_url, tmp_path / "first.sqlite", metrics) as (index, tailer):
        assert tailer.caught_up.wait(60), tailer.status()
        assert tailer.status() == "index current"
        assert tailer.progress() == (8, 8, True)  # offsets: 7 records and the transaction's commit marker
        rebuilt = timeline(index.journey(ORDER.order_id))
        assert [(label, outcome) for label, outcome, _ in rebuilt] == [
            ("received (orders/create)", "RECEIVED"), ("delivery interpreted", "OK"),
            ("order placed", "EVENT"),
            ("ERP cXML order failed: dead-lettered", "DEAD_LETTERED")]
        stopped = index.journey(ORDER.order_id).stopped_at  # type: ignore[union-attr]
        assert stopped is not None and stopped.dead_letter is not None
        assert (stopped.dead_letter.topic, stopped.dead_letter.offset) == (letter[0], letter[2])
        assert index.dead_letters()[0].order_id == ORDER.order_id
        skipped = metrics.get_sample_value("ecombus_console_index_skipped_total", {"topic": bus.topics.audit})
        assert skipped == 2  # the JSON value (not of the audit's shape) and the corrupt one
        assert index.erp_gap().count == 1

        # tailed: a status change, the dead letter replayed, a dead-letter topic created after start
        bus.send(bus.topics.status, replace(ex["OrderStatusChanged"], status=m.OrderStatus.ACCEPTED),
                 at=t0 + 2_000)
        origin = f"{letter[0]}/{letter[1]}/{letter[2]}".encode()
        bus.send(bus.topics.placed, ORDER, headers=[("ecombus.replayed.from", origin)], at=t0 + 450)
        later = bus.dead_letter_topic("inventory-sync")
        bus.send(later, None, raw=b"x", headers=[("__connect.errors.topic", bus.topics.placed.encode())])

        assert wait_for(lambda: len(index.dead_letters(pending_only=False)) == 2, timeout=30)
        assert wait_for(lambda: not index.search(ORDER.order_id)[0].dead_lettered, timeout=30)
        tailed = timeline(index.journey(ORDER.order_id))
        assert ("accepted", "EVENT") in [(label, outcome) for label, outcome, _ in tailed]
        assert [d.service for d in index.dead_letters()] == ["inventory-sync"]  # the router's was replayed

    with tailing(bus, schema_registry_url, tmp_path / "second.sqlite") as (again, tailer):
        assert tailer.caught_up.wait(60), tailer.status()
        # The rebuilt index holds the same steps as the tailed one. Compared as sets: under load the
        # rebuild was seen to differ from the tail for a while (a readiness race, a known issue, in
        # docs/console.md); the order of steps is checked by the unit tests of the journey.
        assert wait_for(lambda: sorted(timeline(again.journey(ORDER.order_id))) == sorted(tailed),
                        timeout=30), set(timeline(again.journey(ORDER.order_id))) ^ set(tailed)
        assert [d.service for d in again.dead_letters()] == ["inventory-sync"]
        assert again.search("#1042")[0].order_id == ORDER.order_id
