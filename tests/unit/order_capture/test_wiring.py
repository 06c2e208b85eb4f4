"""order-capture's wiring declares its parts, closers and readiness on the assembly (no broker)."""

from __future__ import annotations

import pytest

from bus.assembly import Assembly
from bus.serde import AvroCodec
from bus.settings import KafkaSettings
from bus.webhooks.server import Edge
from services.order_capture import SERVICE
from services.order_capture.reconciliation import Reconciling
from services.order_capture.settings import OrderCaptureSettings
from services.order_capture.wiring import build
from tests.unit.serde.fake_registry import FakeRegistry

UNREACHABLE = KafkaSettings(bootstrap_servers="127.0.0.1:1", extra_config={"log_level": "0"})
LOCAL = ("127.0.0.1", 0)


def _settings(**values: object) -> OrderCaptureSettings:
    return OrderCaptureSettings(host="127.0.0.1", port=0, **values)  # type: ignore[arg-type]


def test_the_webhook_edge_prepares_its_stores_and_schemas_and_the_closers_drain_the_producer() -> None:
    assembly = Assembly(SERVICE, admin=LOCAL)
    parts = build(assembly, _settings(), UNREACHABLE, codec=AvroCodec(FakeRegistry().client()))
    assert [name for name, _ in assembly.parts] == ["webhooks"], "no reconciler without the Shopify API"
    [(_, edge)] = assembly.parts
    assert edge is parts.edge and isinstance(edge, Edge)
    steps = list(parts.edge.prepare)
    assert steps[:2] == [parts.producer.start_polling, parts.processed.start], \
        "polling and the dedupe store come before the port opens"
    assert len(steps) == 3 and steps[2]() is True, "then the writer schemas, registered (a readiness check)"
    assert len(assembly.closers) == 2 and assembly.closers[-1] == parts.processed.close, \
        "closers run in reverse: the dedupe store's tail closes first, the producer is flushed last"
    assert parts.http.port == 0 and not parts.http.started


def test_readiness_is_kafka_schemas_and_the_open_webhook_port_on_the_assembly_health() -> None:
    assembly = Assembly(SERVICE, admin=LOCAL)
    build(assembly, _settings(), UNREACHABLE, codec=AvroCodec(FakeRegistry().client()))
    reasons = assembly.health.readiness().reasons
    assert set(reasons) == {"kafka", "webhooks"}, reasons  # the fake registry took the schemas


@pytest.mark.parametrize(("interval", "parts"), [(60.0, ["webhooks", "reconciler"]), (0.0, ["webhooks"])])
def test_the_reconciler_is_a_part_of_its_own_when_the_shopify_api_is_configured(
        interval: float, parts: list[str]) -> None:
    assembly = Assembly(SERVICE, shutdown_timeout=7, admin=LOCAL)
    settings = _settings(shopify_api_url="https://shop.test", shopify_shop_domain="s.myshopify.com",
                         reconcile_interval_seconds=interval)
    wired = build(assembly, settings, UNREACHABLE, codec=AvroCodec(FakeRegistry().client()))
    assert [name for name, _ in assembly.parts] == parts
    assert wired.reconciler is not None and wired.cursors is not None
    assert wired.cursors.start in list(wired.edge.prepare), "the cursors load before the port opens"
    if interval:
        reconciling = assembly.parts[1][1]
        assert isinstance(reconciling, Reconciling)
        assert (reconciling.reconciler, reconciling.interval) == (wired.reconciler, interval)
        assert reconciling.after is wired.edge.prepared, "the first pass waits for the stores"
        assert reconciling.drain_timeout == 7
