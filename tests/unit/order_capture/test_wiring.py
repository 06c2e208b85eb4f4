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


def test_the_webhook_edge_and_the_intake_stage_and_the_closers() -> None:
    assembly = Assembly(SERVICE, admin=LOCAL)
    parts = build(assembly, _settings(), UNREACHABLE, codec=AvroCodec(FakeRegistry().client()))
    assert [name for name, _ in assembly.parts] == ["intake", "webhooks"], "no reconciler without its API"
    stage, edge = (part for _, part in assembly.parts)
    assert stage is parts.stage and edge is parts.edge and isinstance(edge, Edge)
    steps = list(parts.edge.prepare)
    assert steps[0] == parts.producer.start_polling, "polling comes before the port opens"
    assert len(steps) == 2 and steps[1]() is True, "then the writer schemas, registered (a readiness check)"
    assert parts.http.port == 0 and not parts.http.started
    assert parts.dedupe is not None and assembly.closers == [parts.dedupe.close, assembly.closers[1]], \
        "closers run in reverse: the producer is flushed first, the dedupe store closed last"
    assert parts.intake.topic == "intake.storefronts.v1" and parts.intake.producer is parts.producer


def test_the_intake_stage_is_an_exactly_once_stage_on_the_intake_topic() -> None:
    assembly = Assembly(SERVICE, admin=LOCAL)
    parts = build(assembly, _settings(dedupe_ttl_seconds=600), UNREACHABLE,
                  codec=AvroCodec(FakeRegistry().client()))
    stage = parts.stage
    assert stage is not None and parts.dedupe is not None
    assert stage.stage is not None and stage.stage.group_id == "ecombus.order-capture.intake"
    assert stage.stage.transactional_id.startswith("ecombus.order-capture.intake.txn.")
    assert stage.stage.state == (parts.dedupe,)
    assert stage.handlers.topics == ["intake.storefronts.v1"]
    spec = stage.handlers.for_topic("intake.storefronts.v1")
    assert spec is not None and spec.name == "interpret_delivery"
    assert (parts.dedupe.input_topic, parts.dedupe.changelog, parts.dedupe.ttl) == (
        "intake.storefronts.v1", "order-capture.intake.changelog", 600)
    assert dict(stage.stage.producer_overrides)["message.max.bytes"] >= parts.settings.max_body_bytes
    assert len(stage.start_steps) == 1, "one start step prepares the stage's topics (needs a broker to run)"


def test_readiness_is_kafka_schemas_interpreting_and_the_open_webhook_port() -> None:
    assembly = Assembly(SERVICE, admin=LOCAL)
    build(assembly, _settings(), UNREACHABLE, codec=AvroCodec(FakeRegistry().client()))
    reasons = assembly.health.readiness().reasons
    assert set(reasons) == {"kafka", "interpreting", "webhooks"}, reasons  # the schemas: registered


def test_configured_shops_are_the_accepted_tenants() -> None:
    settings = OrderCaptureSettings.model_validate_json(
        '{"shops": [{"platform": "Shopify", "domain": "Hanako-Tea.myshopify.com", "secret": "own"}]}')
    [shop] = settings.shops
    assert (shop.platform, shop.domain) == ("shopify", "hanako-tea.myshopify.com")
    assert shop.secret is not None and "own" not in repr(settings)


@pytest.mark.parametrize(("interval", "parts"), [(60.0, ["webhooks", "reconciler"]), (0.0, ["webhooks"])])
def test_the_reconciler_is_a_part_of_its_own_when_the_shopify_api_is_configured(
        interval: float, parts: list[str]) -> None:
    assembly = Assembly(SERVICE, shutdown_timeout=7, admin=LOCAL)
    settings = _settings(shopify_api_url="https://shop.test", shopify_shop_domain="s.myshopify.com",
                         reconcile_interval_seconds=interval)
    wired = build(assembly, settings, UNREACHABLE, codec=AvroCodec(FakeRegistry().client()))
    assert [name for name, _ in assembly.parts] == ["intake", *parts]
    assert wired.reconciler is not None and wired.cursors is not None
    assert wired.cursors.start in list(wired.edge.prepare), "the cursors load before the port opens"
    if interval:
        reconciling = assembly.parts[2][1]
        assert isinstance(reconciling, Reconciling)
        assert (reconciling.reconciler, reconciling.interval) == (wired.reconciler, interval)
        assert reconciling.after is wired.edge.prepared, "the first pass waits for the stores"
        assert reconciling.drain_timeout == 7


@pytest.mark.parametrize(("selected", "running", "checks"), [
    ("webhooks", ["webhooks"], {"kafka", "webhooks"}),
    ("intake", ["intake"], {"kafka", "interpreting"}),
    ("intake, webhooks", ["intake", "webhooks"], {"kafka", "interpreting", "webhooks"})])
def test_a_process_runs_the_parts_it_is_told_to_and_is_ready_on_those_alone(
        selected: str, running: list[str], checks: set[str]) -> None:
    assembly = Assembly(SERVICE, admin=LOCAL)
    parts = build(assembly, _settings(parts=selected), UNREACHABLE, codec=AvroCodec(FakeRegistry().client()))
    assert [name for name, _ in assembly.parts] == running
    assert (parts.stage is not None) == ("intake" in running)
    assert set(assembly.health.readiness().reasons) == checks


def test_unknown_parts_are_refused_with_what_is_expected() -> None:
    with pytest.raises(ValueError, match="subset of webhooks, intake"):
        _settings(parts="webhooks,stage")
