"""Loading routes files: errors name the route, the step and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.router.build import BuildContext
from services.router.components import RoutesError
from services.router.routes import DEFAULT_ROUTES_FILE, load_routes, parse_routes

ROUTE = """
routes:
  - name: r1
    from: {kafka: {topic: orders.placed.v1}}
    steps:
      - filter: "currency == 'USD'"
      - map: {name: row, fields: {a: "order_id"}}
    to:
      - kafka: {topic: orders.review.v1}
"""


def _load(text: str, **env: str):  # type: ignore[no-untyped-def]
    return parse_routes(text, Path("routes.yaml"), BuildContext(environ=env))


def test_the_shipped_routes_load() -> None:
    routes = load_routes(DEFAULT_ROUTES_FILE, BuildContext(environ={}))
    assert [r.name for r in routes.routes] == ["erp-stock-file", "orders-to-erp-csv", "orders-to-erp-cxml",
                                               "order-review", "refunds-to-erp-csv", "refunds-to-erp-cxml",
                                               "returns-to-erp-csv", "dispute-review"]
    review = routes.route("order-review")
    assert review.branches() == ["order-value/high-value", "order-value/regular"]
    assert routes.route("dispute-review").branches() == ["dispute-status/needs-response",
                                                         "dispute-status/changed"]


def test_a_valid_route_has_its_steps_named() -> None:
    route = _load(ROUTE).route("r1")
    assert [s.name for s in route.steps] == ["1-filter", "row"]
    assert [e.describe() for e in route.to] == ["kafka:orders.review.v1"]


@pytest.mark.parametrize(("change", "message"), [
    (("fields: {a: \"order_id\"}", "fields: {a: \"uper(order_id)\"}"),
     "route 'r1', step 2 (map 'row'): field 'fields.a': unknown function 'uper'"),
    (("- filter:", "- filtre:"), "route 'r1', step 1: unknown step kind 'filtre'"),
    (("{name: row, fields", "{name: row, colour: red, fields"),
     "route 'r1', step 2 (map 'row'): field 'colour': Extra inputs are not permitted"),
    (("kafka: {topic: orders.review.v1}", "kafka: {topic: 'orders review'}"),
     "route 'r1', to 1 (kafka): field 'topic'"),
    (("from: {kafka:", "from: {file_out: {folder: x, format: xml}, x:"),
     "route 'r1', from: expected one endpoint kind"),
    (("- kafka: {topic: orders.review.v1}", "- file_in: {folder: x}"),
     "route 'r1', to 1 (file_in): file_in cannot be a 'to'"),
    (("name: r1", "name: R 1"), "route 1: field 'name'"),
])
def test_errors_name_the_route_the_step_and_the_field(change: tuple[str, str], message: str) -> None:
    with pytest.raises(RoutesError) as error:
        _load(ROUTE.replace(*change))
    assert message in str(error.value)


def test_exactly_once_needs_kafka_on_both_sides() -> None:
    text = ROUTE.replace("    from:", "    delivery: exactly-once\n    from:")
    assert _load(text).route("r1").delivery == "exactly-once"
    with pytest.raises(RoutesError, match="exactly-once needs kafka"):
        _load(text.replace("- kafka: {topic: orders.review.v1}", "- http_out: {base_url: 'http://erp'}"))


def test_environment_is_substituted_and_a_missing_variable_named() -> None:
    text = ROUTE.replace("orders.review.v1", "${REVIEW_TOPIC:-orders.review.v1}")
    assert _load(text, REVIEW_TOPIC="staging.review").route("r1").to[0].config.topic == "staging.review"
    assert _load(text).route("r1").to[0].config.topic == "orders.review.v1"
    with pytest.raises(RoutesError, match="NO_SUCH_VAR"):
        _load(ROUTE.replace("orders.review.v1", "${NO_SUCH_VAR}"))


def test_a_route_must_send_somewhere_and_names_are_unique() -> None:
    with pytest.raises(RoutesError, match="sends nowhere"):
        _load(ROUTE.split("    to:")[0])
    with pytest.raises(RoutesError, match="repeated: r1"):
        _load(ROUTE + ROUTE.split("routes:")[1])
