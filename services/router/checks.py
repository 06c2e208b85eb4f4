"""What ``routes check`` verifies beyond the file's own validity, and what the router may skip.

:func:`check_fields` follows each Kafka Avro route from its source topic's schema through its
steps (a split adds its item, a map replaces the body, an enrich adds a field...) and reports
every expression that reads a field the body cannot have, naming the route, the step and the
field, plus Avro outputs missing a required field of their topic's schema.

:func:`source_paths` lists the source fields a route reads, or None when something needs the
whole record (a step or an endpoint that passes the body on); the router decodes with a reader
schema projected on those fields.
"""

from __future__ import annotations

from typing import Any

from bus.contracts.catalog import TOPIC_EVENTS, schema_for_topic
from services.router.endpoints.base import Endpoint
from services.router.routes import Route, RoutesFile
from services.router.schema_paths import Path, Shape, check_path, shape_of
from services.router.steps.base import Step


def check_fields(routes: RoutesFile) -> list[str]:
    """Problems found in every route, each naming the route, the step and the field."""
    problems: list[str] = []
    for route in routes.routes:
        source = route.source
        if source.kind != "kafka" or source.config.format != "avro":
            continue
        if source.config.topic not in TOPIC_EVENTS:
            problems.append(f"route {route.name!r}, from: topic {source.config.topic!r} has no Avro "
                            f"contract; known: {', '.join(TOPIC_EVENTS)}")
            continue
        shape = shape_of(schema_for_topic(source.config.topic))
        _follow(route.name, route.steps, route.to, shape, problems)
    return problems


def _follow(route: str, steps: list[Step], to: list[Endpoint], shape: Shape | None,
            problems: list[str]) -> None:
    for step in steps:
        for expr in step.reads():
            for path in sorted(expr.paths):
                problem = check_path(shape, path)
                if problem:
                    problems.append(f"route {route!r}, step {step.name!r}: {problem} (in {expr.source!r})")
        for _branch, inner, targets in step.substeps():
            _follow(route, inner, targets, shape, problems)
        shape = step.after(shape)
    for endpoint in to:
        for expr in endpoint.reads():
            for path in sorted(expr.paths):
                problem = check_path(shape, path)
                if problem:
                    problems.append(f"route {route!r}, to {endpoint.describe()!r}: {problem}")
        problems += _output_problems(route, endpoint, shape)


def _output_problems(route: str, endpoint: Endpoint, shape: Shape | None) -> list[str]:
    if endpoint.kind != "kafka" or endpoint.config.format != "avro" or shape is None \
            or shape.name != "mapped":
        return []
    topic = endpoint.config.topic
    if topic not in TOPIC_EVENTS:
        return [f"route {route!r}, to {endpoint.describe()!r}: topic {topic!r} has no Avro contract"]
    schema = schema_for_topic(topic)
    missing = [f["name"] for f in schema["fields"] if "default" not in f and f["name"] not in shape.fields]
    return [f"route {route!r}, to {endpoint.describe()!r}: field {name!r} required by "
            f"{schema['name']} is not set by the map before it" for name in missing]


def source_paths(route: Route) -> set[Path] | None:
    """The source fields ``route`` reads, or None when it needs whole records."""
    needed: set[Path] = set()
    return needed if _collect(route.steps, route.to, {}, needed) else None


def _collect(steps: list[Step], to: list[Endpoint], aliases: dict[str, Path], needed: set[Path]) -> bool:
    """Add the source paths read before the body is replaced; False if the whole body is needed."""
    for step in steps:
        alias: Any = getattr(step, "source_alias", lambda: None)()
        if alias is not None:  # a split: what is read of each item is read through its alias
            aliases[alias[0]] = _resolve(alias[1], aliases)
            continue
        for expr in step.reads():
            needed.update(_resolve(path, aliases) for path in expr.paths)
        for _branch, inner, targets in step.substeps():
            if not _collect(inner, targets, dict(aliases), needed):
                return False
        if getattr(step, "replaces_body", False):
            return True
        if step.kind not in ("filter", "choice", "dedupe", "set_headers", "enrich"):
            return False
    for endpoint in to:
        if endpoint.whole_body():
            return False
        for expr in endpoint.reads():
            needed.update(_resolve(path, aliases) for path in expr.paths)
    return True


def _resolve(path: Path, aliases: dict[str, Path]) -> Path:
    return (*aliases[path[0]], *path[1:]) if path and path[0] in aliases else path
