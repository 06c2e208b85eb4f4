"""Transient failures are retried, permanent ones dead-lettered without blocking, then replayed."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client import CollectorRegistry

from bus.errors import PermanentError, TransientError
from bus.observability.metrics import RuntimeMetrics
from bus.ops import dlq as dlq_ops
from bus.ops.trace import trace
from bus.runtime import ConsumerLoop, Context, HandlerRegistry, LoopOptions, RetryPolicy
from bus.runtime.audit import AuditTrail
from bus.runtime.codec import JsonCodec
from bus.runtime.dlq import dlq_topic
from bus.runtime.hooks import RuntimeHooks
from bus.runtime.producer import BusProducer
from tests.integration.runtime.kafka_io import committed_total, produce_json, read_all, wait_for


class World:
    """The service under test, running in a thread, plus what its handler saw."""

    def __init__(self, bootstrap: str, source: str, target: str, audit_topic: str) -> None:
        self.service = f"svc-{uuid.uuid4().hex[:8]}"
        self.group = f"ecombus.{self.service}"
        self.calls: Counter[int] = Counter()
        self.fixed = False
        handlers = HandlerRegistry()

        @handlers.handler(source)
        def check_order(event: dict[str, Any], ctx: Context) -> None:
            seq = event["seq"]
            self.calls[seq] += 1
            if event["mode"] == "flaky" and self.calls[seq] <= 3:
                raise TransientError(f"storefront API timed out (call {self.calls[seq]})")
            if event["mode"] == "poison" and not self.fixed:
                raise PermanentError(f"unknown SKU in order {seq}")
            ctx.emit(target, {"seq": seq}, key=str(seq))

        client = {"bootstrap.servers": bootstrap}
        self.registry = CollectorRegistry()
        codec = JsonCodec()
        producer = BusProducer(client)
        hooks = RuntimeHooks(self.service, RuntimeMetrics(self.service, self.registry),
                             audit=AuditTrail(self.service, producer, codec, topic=audit_topic))
        options = LoopOptions(group_id=self.group, batch_size=50,
                              retry=RetryPolicy(max_attempts=5, initial_backoff=0.01, max_backoff=0.05))
        self.loop = ConsumerLoop(self.service, handlers, client, codec, options, producer=producer,
                                 hooks=hooks)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop.run, args=(self.stop,), daemon=True)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, {"service": self.service, **labels}) or 0.0


@pytest.fixture
def world(kafka_bootstrap: str, new_topic: Callable[..., str]) -> Iterator[World]:
    source, target, audit = new_topic("orders", partitions=1), new_topic("out"), new_topic("audit")
    w = World(kafka_bootstrap, source, target, audit)
    w.source, w.target, w.audit = source, target, audit  # type: ignore[attr-defined]
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(dlq_topic(w.service), 1, 1)])[dlq_topic(w.service)].result(30)
    w.thread.start()
    yield w
    w.stop.set()
    w.thread.join(60)


def test_retry_dead_letter_and_replay(kafka_bootstrap: str, world: World) -> None:
    source, target, audit = world.source, world.target, world.audit  # type: ignore[attr-defined]
    events = [{"seq": i, "mode": "ok", "meta": {"event_id": f"ev-{i}", "correlation_id": f"order-{i}"}}
              for i in range(20)]
    events[5]["mode"] = "flaky"
    events[8]["mode"] = "poison"
    produce_json(kafka_bootstrap, source, events)

    assert wait_for(lambda: committed_total(kafka_bootstrap, source, world.group) == 20, timeout=60)
    handled = Counter(json.loads(m.value())["seq"] for m in read_all(kafka_bootstrap, target))
    assert set(handled) == set(range(20)) - {8}, "later events of the partition were not blocked"
    assert handled[5] == 1, "the flaky event was handled once"
    assert world.calls[5] == 4
    assert world.metric("ecombus_handler_retries_total", topic=source, handler="check_order") == 3
    assert world.metric("ecombus_dead_letters_total", topic=source, handler="check_order",
                        kind="permanent") == 1

    dead = read_all(kafka_bootstrap, dlq_topic(world.service))
    assert len(dead) == 1
    headers = {k: v.decode() for k, v in dead[0].headers()}
    assert dead[0].value() == json.dumps(events[8]).encode(), "original bytes kept"
    assert headers["__connect.errors.topic"] == source
    assert headers["__connect.errors.offset"] == "8"
    assert headers["__connect.errors.exception.class.name"] == "bus.errors.PermanentError"
    assert headers["__connect.errors.exception.message"] == "unknown SKU in order 8"
    assert headers["ecombus.errors.kind"] == "permanent"
    assert headers["ecombus.errors.attempts"] == "1"
    assert headers["ecombus.errors.handler"] == "check_order"
    for name in ("__connect.errors.partition", "__connect.errors.connector.name",
                 "__connect.errors.stage", "__connect.errors.exception.stacktrace",
                 "ecombus.errors.first.failure", "ecombus.errors.last.failure"):
        assert headers[name], name

    client = {"bootstrap.servers": kafka_bootstrap}
    summary = dlq_ops.summarize(client, world.service)
    assert summary.pending == 1
    assert summary.reasons == Counter({"PermanentError: unknown SKU in order 8": 1})

    world.fixed = True
    report = dlq_ops.replay(client, world.service)
    assert report.replayed == 1
    assert wait_for(lambda: 8 in {json.loads(m.value())["seq"] for m in read_all(kafka_bootstrap, target)})
    assert dlq_ops.summarize(client, world.service).pending == 0, "DLQ drained"

    steps = trace(client, JsonCodec(), "order-8", topic=audit)
    assert [s.outcome for s in steps] == ["DEAD_LETTERED", "OK"]
    assert "unknown SKU in order 8" in (steps[0].error or "")


def test_undecodable_message_is_dead_lettered_with_its_bytes(kafka_bootstrap: str, world: World) -> None:
    source = world.source  # type: ignore[attr-defined]
    produce_json(kafka_bootstrap, source, [{"seq": 0, "mode": "ok"}])
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(source, value=b"\x00\x00\x00\x00\x07not json", key=b"k1",
                     headers=[("traceparent", b"00-abc-01")])
    producer.flush(10)
    produce_json(kafka_bootstrap, source, [{"seq": 2, "mode": "ok"}])
    assert wait_for(lambda: committed_total(kafka_bootstrap, source, world.group) == 3, timeout=60)
    dead = read_all(kafka_bootstrap, dlq_topic(world.service))
    assert [m.value() for m in dead] == [b"\x00\x00\x00\x00\x07not json"]
    assert dead[0].key() == b"k1"
    headers = dict(dead[0].headers())
    assert headers["traceparent"] == b"00-abc-01", "original headers kept"
    assert headers["__connect.errors.stage"] == b"VALUE_CONVERTER"
    assert headers["ecombus.errors.kind"] == b"permanent"
