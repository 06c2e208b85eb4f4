"""shipping-tracker's wiring declares a consumer part and a webhook edge on the assembly (no broker)."""

from __future__ import annotations

from typing import Any

from bus.assembly import Assembly
from bus.runtime.service import RuntimeSettings, Service
from bus.serde import AvroCodec
from bus.settings import KafkaSettings
from bus.webhooks.server import Edge
from services.shipping_tracker import SERVICE
from services.shipping_tracker.settings import ShippingTrackerSettings
from services.shipping_tracker.wiring import ShippingTrackerParts, build
from tests.unit.serde.fake_registry import FakeRegistry

UNREACHABLE = KafkaSettings(bootstrap_servers="127.0.0.1:1", extra_config={"log_level": "0"})
LOCAL = ("127.0.0.1", 0)


def _build(assembly: Assembly, **runtime: Any) -> ShippingTrackerParts:
    return build(assembly, ShippingTrackerSettings(host="127.0.0.1", port=0), UNREACHABLE,
                 runtime=RuntimeSettings(**runtime), codec=AvroCodec(FakeRegistry().client()))


def test_a_consumer_part_an_intake_stage_and_a_webhook_edge_that_opens_once_the_consumer_side_is_loaded(
        ) -> None:
    assembly = Assembly("tracker-x", admin=LOCAL)
    parts = _build(assembly)
    assert [name for name, _ in assembly.parts] == ["consumer", "intake", "webhooks"]
    consumer, stage, edge = (part for _, part in assembly.parts)
    assert stage is parts.stage and isinstance(stage, Service) and stage.stage is not None
    assert stage.stage.group_id == parts.settings.intake_group_id == "ecombus.shipping-tracker.intake"
    assert stage.handlers.topics == ["intake.carriers.v1"] and not stage.handlers.any_side_effects
    assert consumer is parts.consumer and isinstance(consumer, Service)
    assert edge is parts.edge and isinstance(edge, Edge)
    assert list(edge.after) == [consumer.started], "no webhook before the consumer side is loaded"
    assert len(edge.prepare) == 1, "the webhook producer polls first (no dedupe at the edge)"
    assert consumer.name == "tracker-x" and consumer.handlers.topics == ["shipments.tracking.v1"]
    assert consumer.handlers.any_side_effects, "fulfillment pushes are deduplicated by event id"
    assert consumer.metrics is assembly.metrics and consumer.health is assembly.health
    loaded = [step.__self__ for step in consumer.start_steps]  # type: ignore[attr-defined]
    assert [getattr(store, "topic", None) for store in loaded] == [
        "bus.processed.tracker-x.fulfillments.v1", "orders.status.v1"], "loaded before consuming"
    assert len(assembly.closers) == 4


def test_readiness_checks_are_on_the_assembly_health() -> None:
    assembly = Assembly(SERVICE, admin=LOCAL)
    _build(assembly, group_id="ecombus.custom")
    assert set(assembly.health.readiness().reasons) == {"kafka", "consuming", "interpreting", "status_book",
                                                          "webhooks"}
