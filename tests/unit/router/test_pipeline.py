"""Running routes: per-route metrics, failures naming route and step, dedupe, aggregates."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from bus.errors import PermanentError
from services.router.build import BuildContext
from services.router.message import Message, Origin
from services.router.metrics import RouterMetrics
from services.router.pipeline import RouteFailure, RouteRunner
from services.router.routes import parse_routes

ROUTES = """
routes:
  - name: r
    from: {kafka: {topic: in.v1, format: json}}
    steps:
      - filter: {name: usd, when: "currency == 'USD'"}
      - dedupe: {name: once, key: id}
      - map: {name: shape, fields: {id: id, amount: "decimal(amount)", doubled: "decimal(amount) * 2"}}
    to: [{kafka: {topic: out.v1, format: json}}]
  - name: agg
    from: {kafka: {topic: in.v1, format: json}}
    steps: [{aggregate: {name: by-sku, key: sku, count: 2, into: lines}}]
    to: [{kafka: {topic: agg.v1, format: json}}]
"""


class Box:
    def __init__(self) -> None:
        self.emitted: list[tuple[str, Any, Any]] = []

    def emit(self, topic: str, value: Any, key: Any = None, headers: Any = None) -> None:
        self.emitted.append((topic, value, key))


def _setup(tmp_path: Path) -> tuple[Any, CollectorRegistry]:
    registry = CollectorRegistry()
    routes = parse_routes(ROUTES, Path("r.yaml"), BuildContext(state_dir=tmp_path))
    return routes, registry


def test_metrics_count_in_out_filtered_failed_per_route(tmp_path: Path) -> None:
    routes, registry = _setup(tmp_path)
    runner = RouteRunner(routes.route("r"), RouterMetrics(registry))
    box = Box()
    runner.handle(Message({"id": "1", "currency": "USD", "amount": "2.50"}), Origin("in/0", 1), box)
    runner.handle(Message({"id": "2", "currency": "EUR", "amount": "1"}), Origin("in/0", 2), box)
    with pytest.raises(RouteFailure) as failure:
        runner.handle(Message({"id": "3", "currency": "USD", "amount": "lots"}), Origin("in/0", 3), box)
    assert isinstance(failure.value, PermanentError) and failure.value.step == "shape"
    assert box.emitted == [("out.v1", {"id": "1", "amount": Decimal("2.50"), "doubled": Decimal("5.00")},
                            None)]
    sample = registry.get_sample_value
    assert sample("ecombus_router_messages_in_total", {"route": "r"}) == 3
    assert sample("ecombus_router_messages_out_total", {"route": "r", "endpoint": "kafka:out.v1"}) == 1
    assert sample("ecombus_router_messages_filtered_total", {"route": "r", "step": "usd"}) == 1
    assert sample("ecombus_router_failures_total", {"route": "r", "step": "shape", "kind": "permanent"}) == 1
    assert sample("ecombus_router_step_duration_seconds_count", {"route": "r", "step": "usd"}) == 3


def test_dedupe_drops_another_input_with_the_key_but_not_a_redelivery(tmp_path: Path) -> None:
    routes, _ = _setup(tmp_path)
    runner = RouteRunner(routes.route("r"))
    box = Box()
    event = {"id": "same", "currency": "USD", "amount": "1"}
    runner.handle(Message(event), Origin("in/0", 7), box).acknowledged()
    runner.handle(Message(event), Origin("in/0", 7), box).acknowledged()  # redelivered after a crash
    runner.handle(Message(event), Origin("in/1", 3), box).acknowledged()  # a duplicate event
    assert len(box.emitted) == 2
    in_flight = RouteRunner(routes.route("r"))
    first = in_flight.handle(Message({**event, "id": "new"}), Origin("in/0", 8), box)  # not acked yet
    in_flight.handle(Message({**event, "id": "new"}), Origin("in/1", 9), box)  # a copy in the same batch
    assert len(box.emitted) == 3, "the copy is dropped while the first input holds the key"
    first.failed()  # the first input is retried or dead-lettered: its claim goes
    in_flight.handle(Message({**event, "id": "new"}), Origin("in/1", 9), box).acknowledged()
    assert len(box.emitted) == 4, "a key is recorded only once the outputs were delivered"
    in_flight.handle(Message({**event, "id": "new"}), Origin("in/0", 8), box)  # the first, replayed later
    assert len(box.emitted) == 4


def test_aggregate_gathers_by_key_durably_and_skips_redeliveries(tmp_path: Path) -> None:
    routes, _ = _setup(tmp_path)
    runner = RouteRunner(routes.route("agg"))
    box = Box()
    runner.handle(Message({"sku": "A", "n": 1}), Origin("in/0", 1), box).acknowledged()
    runner.handle(Message({"sku": "B", "n": 2}), Origin("in/0", 2), box).acknowledged()
    restarted = parse_routes(ROUTES, Path("r.yaml"), BuildContext(state_dir=tmp_path))
    runner = RouteRunner(restarted.route("agg"))
    runner.handle(Message({"sku": "A", "n": 1}), Origin("in/0", 1), box).acknowledged()  # redelivered
    runner.handle(Message({"sku": "A", "n": 3}), Origin("in/0", 3), box).acknowledged()
    lines = [{"sku": "A", "n": 1}, {"sku": "A", "n": 3}]
    assert box.emitted == [("agg.v1", {"key": "A", "lines": lines}, "A")]
