"""Handled event ids survive restarts and are shared by replicas; side-effect handlers skip repeats."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from typing import Any

from prometheus_client import CollectorRegistry

from bus.observability.metrics import RuntimeMetrics
from bus.runtime import ConsumerLoop, Context, HandlerRegistry, LoopOptions
from bus.runtime.codec import JsonCodec
from bus.runtime.hooks import RuntimeHooks
from bus.runtime.idempotency import ProcessedEvents
from bus.runtime.producer import BusProducer
from tests.integration.runtime.kafka_io import committed_total, produce_json, wait_for


def test_marks_survive_restarts_and_reach_other_replicas(kafka_bootstrap: str) -> None:
    client = {"bootstrap.servers": kafka_bootstrap}
    service = f"dedupe-{uuid.uuid4().hex[:8]}"
    producer = BusProducer(client)
    first = ProcessedEvents(client, service, producer)
    first.start()
    replica = ProcessedEvents(client, service, BusProducer(client))
    replica.start()
    try:
        first.mark("shopify:evt-1")
        assert producer.flush(10) == 0
        assert first.seen("shopify:evt-1")
        assert wait_for(lambda: replica.seen("shopify:evt-1"), timeout=20), "the replica never saw it"
        assert not replica.seen("shopify:evt-2")
    finally:
        first.close()
        replica.close()
    restarted = ProcessedEvents(client, service, BusProducer(client))
    restarted.start()
    try:
        assert restarted.seen("shopify:evt-1"), "forgotten after a restart"
        assert len(restarted) == 1
    finally:
        restarted.close()


def test_side_effect_handler_runs_once_per_event_id(kafka_bootstrap: str, new_topic: Any) -> None:
    client = {"bootstrap.servers": kafka_bootstrap}
    source = new_topic("payments", partitions=1)
    service = f"notifier-{uuid.uuid4().hex[:8]}"
    sent: Counter[str] = Counter()
    handlers = HandlerRegistry()

    @handlers.handler(source, side_effects=True)
    def send_email(event: dict[str, Any], ctx: Context) -> None:
        sent[event["meta"]["event_id"]] += 1

    producer = BusProducer(client)
    processed = ProcessedEvents(client, service, producer)
    processed.start()
    registry = CollectorRegistry()
    loop = ConsumerLoop(service, handlers, client, JsonCodec(), LoopOptions(group_id=f"ecombus.{service}"),
                        producer=producer, processed=processed,
                        hooks=RuntimeHooks(service, RuntimeMetrics(service, registry)))
    events = [{"meta": {"event_id": eid}, "n": i} for i, eid in enumerate(["a", "b", "a", "c", "b"])]
    produce_json(kafka_bootstrap, source, events)
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: committed_total(kafka_bootstrap, source, f"ecombus.{service}") == 5)
    finally:
        stop.set()
        thread.join(30)
        processed.close()
    assert sent == Counter({"a": 1, "b": 1, "c": 1})
    assert registry.get_sample_value("ecombus_duplicates_total",
                                     {"service": service, "handler": "send_email"}) == 2
    assert json.dumps(sorted(sent)) == '["a", "b", "c"]'
