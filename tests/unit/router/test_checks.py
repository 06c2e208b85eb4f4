"""Field paths against the Avro contracts, and the projected reader schema the router decodes with."""

from __future__ import annotations

import io
from pathlib import Path

import fastavro

from bus.contracts.catalog import schema_for_topic
from bus.contracts.examples import order_placed
from services.router.build import BuildContext
from services.router.checks import check_fields, source_paths
from services.router.routes import parse_routes
from services.router.schema_paths import projected_schema
from tests.unit.runtime.fakes import UNREACHABLE_KAFKA

ROUTES = """
routes:
  - name: lines
    from: {kafka: {topic: orders.placed.v1}}
    steps:
      - filter: "totals.total.shop.amount > 10"
      - split: {field: lines, as: line}
      - map: {fields: {sku: line.sku, qty: line.quantity, who: customer.emial}}
    to: [{kafka: {topic: erp.lines.v1, format: json}}]
  - name: passthrough
    from: {kafka: {topic: orders.placed.v1}}
    steps: [{filter: "currency == 'USD'"}]
    to: [{kafka: {topic: orders.review.v1}}]
  - name: incomplete
    from: {kafka: {topic: orders.placed.v1}}
    steps: [{map: {fields: {sku: order_id}}}]
    to: [{kafka: {topic: inventory.levels.v1}}]
"""


def _routes():  # type: ignore[no-untyped-def]
    return parse_routes(ROUTES, Path("r.yaml"), BuildContext())


def test_unknown_fields_and_missing_required_outputs_are_named() -> None:
    problems = check_fields(_routes())
    assert any("route 'lines', step '3-map': field 'customer.emial' does not exist" in p for p in problems)
    missing = [p for p in problems if p.startswith("route 'incomplete'")]
    assert any("field 'location' required by StockLevelChanged" in p for p in missing)
    assert not any(p.startswith("route 'passthrough'") for p in problems)


def test_projection_reads_only_what_the_route_needs() -> None:
    routes = _routes()
    paths = source_paths(routes.route("lines"))
    assert paths == {("totals", "total", "shop", "amount"), ("lines", "[]", "sku"),
                     ("lines", "[]", "quantity"), ("customer", "emial")}
    assert source_paths(routes.route("passthrough")) is None
    writer = schema_for_topic("orders.placed.v1")
    reader = projected_schema(writer, paths)
    data = io.BytesIO()
    fastavro.schemaless_writer(data, fastavro.parse_schema(writer), order_placed(line_count=2).to_avro())
    data.seek(0)
    value = fastavro.schemaless_reader(data, fastavro.parse_schema(writer), fastavro.parse_schema(reader))
    total = order_placed(line_count=2).totals.total.shop.amount
    assert value == {"customer": {}, "lines": [{"sku": "MATCHA-40G", "quantity": 2},
                                               {"sku": "HOJICHA-100G", "quantity": 2}],
                     "totals": {"total": {"shop": {"amount": total}}}}


def test_the_router_refuses_to_start_on_a_field_no_record_has(tmp_path: Path) -> None:
    import pytest

    from bus.assembly import Assembly
    from bus.errors import ConfigError
    from bus.runtime.service import RuntimeSettings
    from bus.settings import RegistrySettings
    from services.router import SERVICE
    from services.router.settings import RouterSettings
    from services.router.wiring import build

    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES, encoding="utf-8")
    settings = RouterSettings(routes_file=routes, state_dir=tmp_path / "state")
    expected = r"route 'lines', step '3-map': field 'customer.emial'.*routes check"
    assembly = Assembly(SERVICE, admin=("127.0.0.1", 0))
    with pytest.raises(ConfigError, match=expected):
        build(assembly, settings, RuntimeSettings(), UNREACHABLE_KAFKA,
              RegistrySettings(url="http://127.0.0.1:1"), environ={})
    assert (assembly.parts, assembly.closers) == ([], [])  # refused before declaring anything
