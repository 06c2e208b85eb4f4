"""``ecombus routes test``: route tests declared beside the routes, run without Kafka or HTTP.

A tests file (``deploy/routes.tests.yaml`` beside ``deploy/routes.yaml``)::

    tests:
      - name: a high-value order goes to review
        route: order-review
        given:                              # inputs, in order (a route's 'from' receives them)
          - value: *order                   # YAML anchors keep long events readable
            key: "shopify:hanako-tea.myshopify.com:6120004415"
            patch: {totals.total.shop.amount: "612.00"}   # dotted paths override fields
        expect:
          kafka:orders.review.v1:           # endpoint label → what it received, in order
            - key: "shopify:hanako-tea.myshopify.com:6120004415"
              value: {order_id: "shopify:hanako-tea.myshopify.com:6120004415"}   # a subset
              headers: {ecombus.review.reason: "total 612.00 USD over 500"}
          branches: [order-value/high-value]
      - name: a bad row is dead-lettered
        route: erp-stock-file
        given: [{value: {sku: X, on_hand: many, reserved: "0", as_of: "2025-06-03T09:00:00Z"}}]
        expect:
          dead_letter: {step: stock-level}

Rules: every endpoint not named under ``expect`` must receive nothing, and nothing may be
dead-lettered unless ``dead_letter`` says so. Values are compared as a subset (fields not
written are not checked); numbers compare by value (``"17.80"`` equals ``Decimal('17.8000')``),
times by instant. Kafka Avro outputs are really encoded with their topic's schema and decoded
again, so a value that would not fit the topic fails the test. ``file_out`` and ``http_out``
outputs also carry ``rendered``, the exact text written (a CSV line, an XML record, a request
body), compared whole, or by pieces with ``contains: [...]``. Inputs of Kafka Avro routes
are shaped to the source topic's schema first (so a test cannot feed an event the topic could never hold).

Endpoint labels: ``kafka:<topic>``, ``file:<prefix>``, ``http:<METHOD> <path>``.
The run reports every choice branch that no test took.
"""

from __future__ import annotations

import copy
import io
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from bus.contracts.catalog import TOPIC_EVENTS, schema_for_topic
from bus.errors import SerializationError
from services.router.build import BuildContext
from services.router.components import RoutesError
from services.router.endpoints.base import Endpoint, Outbox
from services.router.endpoints.file_out import FileOut
from services.router.endpoints.kafka import Kafka
from services.router.formats.avro_json import AvroShaper
from services.router.message import Message, Origin
from services.router.pipeline import RouteFailure, RouteRunner
from services.router.routes import RoutesFile, load_routes


class LocalAvroCodec:
    """Avro encoding with the contracts, no registry: what the route tests check outputs with."""

    def __init__(self) -> None:
        self._parsed: dict[str, Any] = {}
        self._shapers: dict[str, AvroShaper] = {}

    def _schema(self, topic: str) -> Any:
        if topic not in self._parsed:
            self._parsed[topic] = parse_schema(schema_for_topic(topic))
            self._shapers[topic] = AvroShaper(schema_for_topic(topic))
        return self._parsed[topic]

    def encode(self, topic: str, value: Any) -> bytes:
        if topic not in TOPIC_EVENTS:
            raise SerializationError(f"{topic}: no Avro contract for this topic")
        schema = self._schema(topic)
        out = io.BytesIO()
        try:
            schemaless_writer(out, schema, self._shapers[topic](value))
        except SerializationError:
            raise
        except Exception as exc:
            raise SerializationError(f"{topic}: value does not match the schema: {exc}") from exc
        return out.getvalue()

    def decode(self, topic: str, data: bytes) -> Any:
        return schemaless_reader(io.BytesIO(data), self._schema(topic), None)


@dataclass
class Received:
    """One output a test saw."""

    key: str | None
    value: Any
    headers: dict[str, str]
    rendered: str | None = None


@dataclass
class Report:
    """The outcome of a tests file."""

    passed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    unexercised: list[str] = field(default_factory=list)


def companion_tests_file(routes_file: Path) -> Path:
    """``routes.yaml`` → ``routes.tests.yaml`` beside it."""
    return routes_file.with_name(f"{routes_file.stem}.tests{routes_file.suffix}")


def run_tests(routes_file: Path, tests_file: Path | None = None,
              environ: dict[str, str] | None = None) -> Report:
    """Load the routes and run every test of ``tests_file``. Raises RoutesError for bad files.

    Each test gets the routes loaded afresh with their own state folder, so what one test leaves
    behind (dedupe keys, aggregate groups) cannot change another's outcome.
    """
    tests_file = tests_file or companion_tests_file(routes_file)
    with tempfile.TemporaryDirectory(prefix="ecombus-route-tests-") as state:

        def fresh(number: int) -> RoutesFile:
            build = BuildContext(environ=dict(environ or {}), state_dir=Path(state) / str(number))
            build.extra["codec"] = LocalAvroCodec()
            return load_routes(routes_file, build)

        routes = fresh(0)
        try:
            document = yaml.safe_load(tests_file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise RoutesError(f"{tests_file}: cannot read the route tests: {exc}") from None
        if not isinstance(document, dict) or not isinstance(document.get("tests"), list):
            raise RoutesError(f"{tests_file}: expected a top-level 'tests:' list")
        report, taken = Report(), set()
        for number, test in enumerate(document["tests"], start=1):
            name = str(test.get("name") or f"test {number}") if isinstance(test, dict) else f"test {number}"
            try:
                taken |= _run_one(fresh(number), test)
            except AssertionError as exc:
                report.failed.append((name, str(exc)))
                continue
            report.passed.append(name)
        report.unexercised = [f"{r.name}: {b}" for r in routes.routes for b in r.branches()
                              if (r.name, b) not in taken]
        return report


def _run_one(routes: RoutesFile, test: Any) -> set[tuple[str, str]]:
    assert isinstance(test, dict), "a test is a mapping with name, route, given, expect"
    try:
        route = routes.route(str(test.get("route")))
    except KeyError:
        raise AssertionError(f"no route named {test.get('route')!r}") from None
    received: dict[str, list[Received]] = {}
    codec = LocalAvroCodec()

    def record(endpoint: Endpoint, msg: Message, origin: Origin, outbox: Outbox) -> None:
        label = endpoint.describe()
        if isinstance(endpoint, Kafka):
            collected: list[Any] = []

            class _Box:
                def emit(self, topic: str, value: Any, key: Any = None, headers: Any = None) -> None:
                    collected.append((topic, value, key, headers or []))

            endpoint.send(msg, origin, _Box())
            for topic, value, key, headers in collected:
                decoded = codec.decode(topic, value) if endpoint.config.format == "avro" else value
                received.setdefault(label, []).append(
                    Received(key, decoded, {k: v.decode() for k, v in headers}))
        else:
            body = msg.body
            if isinstance(endpoint, FileOut):
                rendered = endpoint.render(msg.body)
                if endpoint.columns:
                    body = {c: msg.body.get(c) for c in endpoint.columns}
            else:
                rendered = endpoint.render(msg).decode("utf-8")  # type: ignore[attr-defined]
            received.setdefault(label, []).append(Received(msg.key, body, dict(msg.headers), rendered))

    runner = RouteRunner(route, sender=record)
    taken: set[tuple[str, str]] = set()
    dead: list[RouteFailure] = []
    given = test.get("given") or []
    assert isinstance(given, list) and given, "'given' must list at least one input"
    for position, item in enumerate(given, start=1):
        msg = _input(route.source, item)
        try:
            result = runner.handle(msg, Origin(f"test:{test.get('name')}", position), _NoOutbox())
        except RouteFailure as exc:
            dead.append(exc)
            continue
        result.acknowledged()
        taken.update((route.name, b) for b in result.branches)
    _check(test.get("expect") or {}, received, dead, taken, route.name)
    return taken


class _NoOutbox:
    def emit(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("an endpoint emitted outside the test recorder")


def _input(source: Endpoint, item: Any) -> Message:
    assert isinstance(item, dict) and "value" in item, "each 'given' input needs a 'value'"
    value = copy.deepcopy(item["value"])
    for path, replacement in (item.get("patch") or {}).items():
        target = value
        parts = str(path).split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = replacement
    if isinstance(source, Kafka) and source.config.format == "avro":
        try:
            value = AvroShaper(schema_for_topic(source.config.topic))(value)
        except SerializationError as exc:
            raise AssertionError(f"the input does not fit {source.config.topic}: {exc}") from None
    headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
    key = item.get("key")
    return Message(value, headers, None if key is None else str(key))


def _check(expect: dict[str, Any], received: dict[str, list[Received]], dead: list[RouteFailure],
           taken: set[tuple[str, str]], route: str) -> None:
    expected_dead = expect.get("dead_letter")
    if expected_dead is None and dead:
        raise AssertionError(f"dead-lettered unexpectedly at step {dead[0].step!r}: {dead[0]}")
    if expected_dead is not None:
        assert dead, f"expected a dead letter at step {expected_dead.get('step')!r}, none happened"
        step = expected_dead.get("step")
        assert step is None or dead[0].step == step, \
            f"dead-lettered at step {dead[0].step!r}, expected {step!r}: {dead[0]}"
    labels = {k for k in expect if k not in ("dead_letter", "branches", "filtered")}
    for label in sorted(set(received) - labels):
        raise AssertionError(f"{label} received {len(received[label])} message(s), the test expects none")
    for label in sorted(labels):
        wanted, got = expect[label] or [], received.get(label, [])
        assert len(wanted) == len(got), f"{label} received {len(got)} message(s), expected {len(wanted)}"
        for index, (w, g) in enumerate(zip(wanted, got, strict=True)):
            for part in ("key", "value", "headers", "rendered", "contains"):
                if part == "contains" and part in w:
                    missing = [t for t in w[part] if t not in (g.rendered or "")]
                    assert not missing, f"{label} message {index + 1}: rendered text lacks {missing}"
                elif part in w:
                    problem = _mismatch(w[part], getattr(g, part), part)
                    assert problem is None, f"{label} message {index + 1}: {problem}"
    if "branches" in expect:
        took = sorted(b for r, b in taken)
        wanted_branches = sorted(expect["branches"])
        assert wanted_branches == took, f"branches taken {took}, expected {wanted_branches}"
    if expect.get("filtered"):
        assert not received and not dead, "expected the input to be filtered out"


def _mismatch(expected: Any, actual: Any, where: str) -> str | None:
    """Why ``actual`` does not match ``expected`` (a subset for mappings), or None."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where}: expected a mapping, got {actual!r}"
        for key, value in expected.items():
            if key not in actual:
                return f"{where}.{key}: missing"
            problem = _mismatch(value, actual[key], f"{where}.{key}")
            if problem:
                return problem
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{where}: expected {len(expected)} items, got {actual!r}"[:300]
        for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
            problem = _mismatch(e, a, f"{where}[{index}]")
            if problem:
                return problem
        return None
    if _same(expected, actual):
        return None
    return f"{where}: expected {expected!r}, got {actual!r}"


def _same(expected: Any, actual: Any) -> bool:
    if expected == actual and type(expected) is type(actual):
        return True
    if isinstance(actual, Decimal) or (isinstance(actual, int | float) and not isinstance(actual, bool)):
        try:
            return Decimal(str(expected)) == Decimal(str(actual))
        except InvalidOperation:
            return False
    if isinstance(actual, datetime):
        try:
            when = expected if isinstance(expected, datetime) else \
                datetime.fromisoformat(str(expected).replace("Z", "+00:00"))
        except ValueError:
            return False
        return bool(when == actual)
    return bool(expected == actual)


__all__ = ["LocalAvroCodec", "Report", "companion_tests_file", "run_tests"]
