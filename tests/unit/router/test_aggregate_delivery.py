"""The aggregate step under failure (issue 12): its own spool, groups leave it only once their
output is acknowledged, and windows closed by time go the route's own delivery path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bus.errors import TransientError
from bus.runtime.codec import JsonCodec
from bus.runtime.handlers import Context
from bus.runtime.retry import RetryPolicy
from bus.runtime.service import RuntimeSettings
from services.router.build import BuildContext
from services.router.handlers import dispatcher
from services.router.ingest import InputRunner, WindowOutlet
from services.router.message import Message, Origin
from services.router.pipeline import RouteRunner
from services.router.routes import RoutesFile, parse_routes
from services.router.steps.aggregate import Aggregate

TWO_ROUTES = """
routes:
  - name: stock-a
    from: {kafka: {topic: a.v1, format: json}}
    steps: [{aggregate: {key: sku, count: 2}}]
    to: [{kafka: {topic: out-a.v1, format: json}}]
  - name: stock-b
    from: {kafka: {topic: b.v1, format: json}}
    steps: [{aggregate: {key: sku, count: 2}}]
    to: [{kafka: {topic: out-b.v1, format: json}}]
"""

WINDOWED = """
routes:
  - name: windowed
    delivery: exactly-once
    from: {kafka: {topic: in.v1, format: json}}
    steps:
      - aggregate: {name: by-sku, key: sku, count: 10, window_seconds: 60, into: lines}
      - map: {merge: true, fields: {lines_seen: "len(lines)"}}
    to: [{kafka: {topic: out.v1, format: json, key: key}}]
"""


class Box:
    def __init__(self) -> None:
        self.emitted: list[tuple[str, Any, Any]] = []

    def emit(self, topic: str, value: Any, key: Any = None, headers: Any = None) -> None:
        self.emitted.append((topic, value, key))


def started(text: str, state: Path) -> RoutesFile:
    """The routes as the router starts them: every step started before any message."""
    routes = parse_routes(text, Path("r.yaml"), BuildContext(state_dir=state))
    for route in routes.routes:
        for _, step in route.all_steps():
            step.start()
    return routes


def aggregate(routes: RoutesFile, route: str) -> Aggregate:
    step = routes.route(route).steps[0]
    assert isinstance(step, Aggregate)
    return step


def spooled(step: Aggregate) -> list[Any]:
    assert step.spool is not None
    return [e.value["body"] for e in step.spool.entries]


def test_two_routes_default_named_aggregates_keep_their_own_spools(tmp_path: Path) -> None:
    routes = started(TWO_ROUTES, tmp_path)
    a, b = aggregate(routes, "stock-a"), aggregate(routes, "stock-b")
    assert a.name == b.name == "1-aggregate"
    assert a.spool is not None and b.spool is not None and a.spool.path != b.spool.path
    box = Box()
    runner_a = RouteRunner(routes.route("stock-a"))
    runner_a.handle(Message({"sku": "X", "n": 1}), Origin("a/0", 1), box).acknowledged()
    runner_b = RouteRunner(routes.route("stock-b"))
    for offset in (1, 2):
        runner_b.handle(Message({"sku": "Y", "n": offset}), Origin("b/0", offset), box).acknowledged()
    assert box.emitted == [("out-b.v1", {"key": "Y", "items": [{"sku": "Y", "n": 1}, {"sku": "Y", "n": 2}]},
                            "Y")]
    restarted = started(TWO_ROUTES, tmp_path)  # B's group left its spool: A's waiting item did not
    box = Box()
    RouteRunner(restarted.route("stock-a")).handle(Message({"sku": "X", "n": 2}), Origin("a/0", 2), box)
    assert box.emitted == [("out-a.v1", {"key": "X", "items": [{"sku": "X", "n": 1}, {"sku": "X", "n": 2}]},
                            "X")]


def context(offset: int) -> Context:
    return Context(topic="a.v1", partition=0, offset=offset, key=None, headers=[], timestamp_ms=None)


def acknowledge(ctx: Context) -> None:
    """What the consumer loop does once the broker acknowledged ctx's outputs."""
    for action in ctx.acknowledged:
        action()


def test_a_group_leaves_the_spool_only_after_its_output_was_acknowledged(tmp_path: Path) -> None:
    routes = started(TWO_ROUTES, tmp_path)
    handle = dispatcher([RouteRunner(routes.route("stock-a"))])
    step = aggregate(routes, "stock-a")
    first = context(1)
    handle({"sku": "X", "n": 1}, first)
    acknowledge(first)
    closing = context(2)
    handle({"sku": "X", "n": 2}, closing)
    group = [("out-a.v1", {"key": "X", "items": [{"sku": "X", "n": 1}, {"sku": "X", "n": 2}]}, "X")]
    assert [tuple(o[:3]) for o in closing.outputs] == group
    assert spooled(step) == [{"sku": "X", "n": 1}, {"sku": "X", "n": 2}], "kept until acknowledged"
    later = context(3)  # handled while the group's output is in flight: a group of its own
    handle({"sku": "X", "n": 3}, later)
    assert later.outputs == []
    # the produce failed: the loop rewinds and the closing input comes again
    again = context(2)
    handle({"sku": "X", "n": 2}, again)
    assert [tuple(o[:3]) for o in again.outputs] == group, "the same group is emitted again"
    acknowledge(again)
    assert spooled(step) == [{"sku": "X", "n": 3}]
    acknowledge(later)
    assert spooled(step) == [{"sku": "X", "n": 3}]


def test_a_group_whose_output_was_lost_in_a_crash_is_emitted_after_the_restart(tmp_path: Path) -> None:
    routes = started(TWO_ROUTES, tmp_path)
    handle = dispatcher([RouteRunner(routes.route("stock-a"))])
    for offset in (1, 2):
        handle({"sku": "X", "n": offset}, context(offset))  # nothing acknowledged, then a crash
    restarted = started(TWO_ROUTES, tmp_path)
    closes = aggregate(restarted, "stock-a").due()
    assert [c.message.body for c in closes] == [{"key": "X", "items": [{"sku": "X", "n": 1},
                                                                        {"sku": "X", "n": 2}]}]
    assert aggregate(restarted, "stock-a").due() == [], "held while in flight"
    closes[0].acknowledged()
    assert spooled(aggregate(restarted, "stock-a")) == []


class Raw:
    def __init__(self, fail_commit: bool = False) -> None:
        self.calls: list[str] = []
        self.fail_commit = fail_commit

    def init_transactions(self, _timeout: float) -> None:
        self.calls.append("init")

    def begin_transaction(self) -> None:
        self.calls.append("begin")

    def commit_transaction(self, _timeout: float) -> None:
        if self.fail_commit:
            from confluent_kafka import KafkaError, KafkaException

            raise KafkaException(KafkaError(KafkaError._TIMED_OUT))
        self.calls.append("commit")

    def abort_transaction(self, _timeout: float) -> None:
        self.calls.append("abort")


class TxnProducer:
    def __init__(self, raw: Raw) -> None:
        self.raw = raw
        self.records: list[tuple[str, Any, Any]] = []

    def produce(self, topic: str, value: bytes, key: Any = None, headers: Any = None) -> None:
        self.records.append((topic, json.loads(value), key))
        self.raw.calls.append(f"produce {topic}")

    def confirm(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("an exactly-once route's window must not be produced outside a transaction")


def test_a_window_closed_by_time_goes_through_a_transaction_and_leaves_the_spool_after_commit(
        tmp_path: Path) -> None:
    routes = started(WINDOWED, tmp_path)
    route = routes.route("windowed")
    step = route.steps[0]
    assert isinstance(step, Aggregate)
    now = [1000.0]
    step.clock = lambda: now[0]
    runner = RouteRunner(route)
    handle = dispatcher([runner])
    for offset in (1, 2):
        ctx = context(offset)
        handle({"sku": "X", "n": offset}, ctx)
        acknowledge(ctx)
        assert ctx.outputs == []
    assert step.due() == []
    now[0] += 61
    failing = WindowOutlet(InputRunner(runner, JsonCodec(), RetryPolicy(max_attempts=1)),
                           TxnProducer(Raw(fail_commit=True)), transactional=True)  # type: ignore[arg-type]
    for close in step.due():
        with pytest.raises(TransientError):
            failing.deliver(step, close)
    assert len(spooled(step)) == 2, "a window whose transaction failed keeps its group"
    raw = Raw()
    producer = TxnProducer(raw)
    outlet = WindowOutlet(InputRunner(runner, JsonCodec(), RetryPolicy(max_attempts=1)), producer,  # type: ignore[arg-type]
                          transactional=True)
    outlet.start()
    closes = step.due()
    assert len(closes) == 1, "the failed window is due again at the next tick"
    outlet.deliver(step, closes[0])
    assert raw.calls == ["init", "begin", "produce out.v1", "commit"]
    assert producer.records == [("out.v1", {"key": "X", "lines": [{"sku": "X", "n": 1}, {"sku": "X", "n": 2}],
                                            "lines_seen": 2}, "X")]
    assert spooled(step) == []


def test_windows_are_delivered_the_way_each_route_delivers_its_inputs(tmp_path: Path) -> None:
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(WINDOWED + f"""
  - name: file-windowed
    from: {{file_in: {{folder: "{tmp_path / 'in'}", format: csv}}}}
    steps: [{{aggregate: {{key: sku, window_seconds: 5}}}}]
    to: [{{kafka: {{topic: out.v1, format: json}}}}]
  - name: plain-windowed
    from: {{kafka: {{topic: other.v1, format: json}}}}
    steps: [{{aggregate: {{key: sku, window_seconds: 5}}}}]
    to: [{{kafka: {{topic: out.v1, format: json}}}}]
  - name: no-aggregate
    from: {{kafka: {{topic: other.v1, format: json}}}}
    to: [{{kafka: {{topic: out.v1, format: json}}}}]
""", encoding="utf-8")
    every = windows_of(routes_file, tmp_path)
    assert every == {"windowed": True, "file-windowed": True, "plain-windowed": True}
    # (one exactly-once route makes the whole loop transactional, so all its windows are too)
    at_least_once = routes_file.read_text(encoding="utf-8").replace("delivery: exactly-once", "")
    routes_file.write_text(at_least_once, encoding="utf-8")
    every = windows_of(routes_file, tmp_path)
    assert every == {"windowed": False, "file-windowed": True, "plain-windowed": False}


def windows_of(routes_file: Path, tmp_path: Path) -> dict[str, bool]:
    """Which routes' windows are delivered in transactions, the others confirmed by the broker."""
    from bus.assembly import Assembly
    from bus.settings import RegistrySettings
    from services.router import SERVICE
    from services.router.settings import RouterSettings
    from services.router.wiring import build
    from tests.unit.runtime.fakes import UNREACHABLE_KAFKA

    assembly = Assembly(SERVICE, shutdown_timeout=5, admin=("127.0.0.1", 0))
    router = build(assembly, RouterSettings(routes_file=routes_file, state_dir=tmp_path / "state"),
                   RuntimeSettings(), UNREACHABLE_KAFKA, RegistrySettings(url="http://127.0.0.1:1"),
                   environ={})
    try:
        for outlet in router.windows.values():
            assert (outlet.producer is router.producer) is not outlet.transactional
        return {name: outlet.transactional for name, outlet in router.windows.items()}
    finally:
        for closer in reversed(assembly.closers):
            closer()
