"""A dead letter of the router replayed for one route (``ecombus.replay.route``) runs through that
route only, and the replay's target never travels on to the route's outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.errors import NotFound
from bus.runtime.dlq import REPLAY_FOR, REPLAY_ROUTE, REPLAYED_FROM
from bus.runtime.handlers import Context
from services.router.build import BuildContext
from services.router.handlers import dispatcher
from services.router.pipeline import RouteRunner
from services.router.routes import parse_routes

TWO_ROUTES_ONE_TOPIC = """
routes:
  - name: to-erp
    from: {kafka: {topic: orders.v1, format: json}}
    to: [{kafka: {topic: erp.v1, format: json}}]
  - name: to-review
    from: {kafka: {topic: orders.v1, format: json}}
    to: [{kafka: {topic: review.v1, format: json}}]
"""


def handler(tmp_path: Path):  # type: ignore[no-untyped-def]
    routes = parse_routes(TWO_ROUTES_ONE_TOPIC, Path("r.yaml"), BuildContext(state_dir=tmp_path))
    return dispatcher([RouteRunner(route) for route in routes.routes])


def context(headers: list[tuple[str, bytes]]) -> Context:
    return Context(topic="orders.v1", partition=0, offset=3, key=b"o-1", headers=headers, timestamp_ms=None)


def test_without_a_replay_route_every_route_reading_the_topic_runs(tmp_path: Path) -> None:
    ctx = context([])
    handler(tmp_path)({"order_id": "o-1"}, ctx)
    assert [o.topic for o in ctx.outputs] == ["erp.v1", "review.v1"]


def test_a_replay_for_one_route_runs_that_route_only_and_its_target_is_not_passed_on(tmp_path: Path) -> None:
    ctx = context([(REPLAYED_FROM, b"dlq.router/0/9"), (REPLAY_FOR, b"router"), (REPLAY_ROUTE, b"to-review")])
    handler(tmp_path)({"order_id": "o-1"}, ctx)
    assert [o.topic for o in ctx.outputs] == ["review.v1"], "to-erp handled the record the first time"
    names = [name for name, _ in ctx.outputs[0].headers]
    assert REPLAY_FOR not in names and REPLAY_ROUTE not in names, "readers of review.v1 must not skip it"
    assert REPLAYED_FROM in names, "where it came from stays visible downstream"


def test_a_replay_for_a_route_that_no_longer_reads_the_topic_is_dead_lettered_again(tmp_path: Path) -> None:
    ctx = context([(REPLAY_FOR, b"router"), (REPLAY_ROUTE, b"renamed-since")])
    with pytest.raises(NotFound, match="renamed-since"):
        handler(tmp_path)({"order_id": "o-1"}, ctx)
    assert ctx.outputs == []
