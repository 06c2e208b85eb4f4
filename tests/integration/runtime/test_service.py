"""A whole Service, the consumer part of an Assembly, on the real broker and registry: typed Avro
events in and out, audit trail, the assembly's admin endpoints, and a /metrics exposition that
promtool accepts."""

from __future__ import annotations

import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Callable

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from bus.assembly import Assembly
from bus.contracts import models as m
from bus.contracts.catalog import schema_for_topic
from bus.contracts.examples import order_placed
from bus.ops.trace import trace
from bus.runtime.audit import AUDIT_TOPIC
from bus.runtime.handlers import Context
from bus.runtime.service import RuntimeSettings, Service
from bus.serde import AvroCodec, RegistryClient
from bus.settings import KafkaSettings
from tests.integration.runtime.kafka_io import committed_total, read_all, wait_for


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_service_handles_typed_avro_events_and_reports(
        kafka_bootstrap: str, schema_registry_url: str, new_topic: Callable[..., str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    source, target = new_topic("orders"), new_topic("status")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    if AUDIT_TOPIC not in admin.list_topics(timeout=30).topics:
        admin.create_topics([NewTopic(AUDIT_TOPIC, 3, 1)])[AUDIT_TOPIC].result(30)
    codec = AvroCodec(RegistryClient(schema_registry_url),
                      writer_schemas={source: schema_for_topic("orders.placed.v1"),
                                      target: schema_for_topic("orders.status.v1")})
    stop = threading.Event()
    settings = RuntimeSettings(group_id=f"ecombus.{source}")
    assembly = Assembly("test-acceptor", admin=("127.0.0.1", 0))
    service = Service("test-acceptor", metrics=assembly.metrics, health=assembly.health, settings=settings,
                      kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap), codec=codec)
    assembly.add("consumer", service)
    seen: list[object] = []

    @service.handler(source, model=m.OrderPlaced)
    def accept_order(order: m.OrderPlaced, ctx: Context) -> None:
        seen.append(order)
        ctx.emit(target, m.OrderStatusChanged(meta=order.meta, order_id=order.order_id,
                                              status=m.OrderStatus.ACCEPTED), key=order.order_id)

    order = order_placed(7001, line_count=3)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(source, key=order.order_id.encode(), value=codec.encode(source, order))
    producer.flush(10)

    monkeypatch.setenv("SCHEMA_REGISTRY_URL", schema_registry_url)
    thread = threading.Thread(target=assembly.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: committed_total(kafka_bootstrap, source, settings.group_id or "") == 1)
        assert isinstance(seen[0], m.OrderPlaced)
        assert seen[0] == order, "the typed event survived Avro unchanged (Japanese text, decimals)"
        out = [codec.decode(target, msg.value()) for msg in read_all(kafka_bootstrap, target)]
        assert [(o["order_id"], o["status"]) for o in out] == [(order.order_id, "ACCEPTED")]

        base = assembly.admin_url
        assert _get(base + "/healthz")[0] == 200
        assert wait_for(lambda: _get(base + "/readyz")[0] == 200, timeout=20)
        status, metrics = _get(base + "/metrics")
        assert status == 200
        assert ('ecombus_messages_processed_total{handler="accept_order",outcome="ok",'
                f'service="test-acceptor",topic="{source}"}} 1.0') in metrics
        if shutil.which("promtool"):
            lint = subprocess.run(["promtool", "check", "metrics"], input=metrics.encode(),
                                  capture_output=True, timeout=60, check=False)
            assert (lint.returncode, lint.stdout + lint.stderr) == (0, b"")

        client = {"bootstrap.servers": kafka_bootstrap}
        assert wait_for(lambda: len(trace(client, codec, order.order_id)) == 1, timeout=30)
        step = trace(client, codec, order.order_id)[0]
        assert (step.service, step.handler, step.outcome) == ("test-acceptor", "accept_order", "OK")
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive(), "the service did not stop when asked"
