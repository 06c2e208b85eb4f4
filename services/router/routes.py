"""The routes file: load, validate and describe the router's routes.

A routes file is YAML::

    routes:
      - name: orders-to-erp-csv            # lower-case, digits and dashes; unique
        description: ...
        delivery: at-least-once            # or exactly-once (Kafka to Kafka only)
        from: {kafka: {topic: orders.placed.v1}}
        steps:
          - split: {field: lines, as: line}
          - map: {fields: {Item: line.sku}}
        to:
          - file_out: {folder: var/erp/orders, format: csv, batch: {count: 100}}

``${NAME}`` and ``${NAME:-default}`` in the text are replaced from the environment first (folders,
URLs). Every error is a :class:`~services.router.components.RoutesError` naming the route, the
step and the field. Loading has no side effects: endpoints connect only when started.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.router import endpoints as _endpoint_kinds  # noqa: F401  (registers the kinds)
from services.router import steps as _step_kinds  # noqa: F401  (registers the kinds)
from services.router.components import RoutesError, parse_endpoint, parse_endpoints, parse_steps
from services.router.endpoints.base import Endpoint
from services.router.steps.base import BuildContext, Step

DEFAULT_ROUTES_FILE = Path(__file__).resolve().parents[2] / "deploy" / "routes.yaml"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ROUTE_KEYS = {"name", "description", "delivery", "from", "steps", "to"}
DELIVERIES = ("at-least-once", "exactly-once")


@dataclass
class Route:
    """A validated route: where it reads, what it does, where it writes."""

    name: str
    source: Endpoint
    steps: list[Step]
    to: list[Endpoint]
    description: str = ""
    delivery: str = "at-least-once"

    def all_steps(self) -> Iterator[tuple[str, Step]]:
        """Every step with its branch path (``''`` on the main line), choice branches included."""
        yield from _walk(self.steps, "")

    def all_endpoints(self) -> list[Endpoint]:
        """Every ``to`` endpoint, choice branches included."""
        found = list(self.to)
        for _, step in self.all_steps():
            for _branch, _steps, targets in step.substeps():
                found += targets
        return found

    def branches(self) -> list[str]:
        """Every choice branch as ``<choice step>/<branch>``."""
        return [f"{step.name}/{name}" for _, step in self.all_steps() for name, _, _ in step.substeps()]


def _walk(steps: list[Step], prefix: str) -> Iterator[tuple[str, Step]]:
    for step in steps:
        yield prefix, step
        for branch, inner, _ in step.substeps():
            yield from _walk(inner, f"{prefix}{step.name}/{branch}/")


@dataclass
class RoutesFile:
    """Every route of one file."""

    path: Path
    routes: list[Route] = field(default_factory=list)

    def route(self, name: str) -> Route:
        for route in self.routes:
            if route.name == name:
                return route
        raise KeyError(name)


def substitute_env(text: str, environ: Mapping[str, str]) -> str:
    """Replace ``${NAME}`` / ``${NAME:-default}``; an unset name without default is an error."""

    def value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ and environ[name] != "":
            return environ[name]
        if default is None:
            raise RoutesError(f"${{{name}}} is used in the routes file but not set")
        return default

    return _ENV.sub(value, text)


def load_routes(path: Path | str, build: BuildContext | None = None) -> RoutesFile:
    """Read and validate a routes file.

    Raises:
        RoutesError: the file is missing, not YAML, or a route is invalid (named, with the step
            and the field).
    """
    path = Path(path)
    build = build or BuildContext()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutesError(f"{path}: cannot read the routes file: {exc.strerror or exc}") from None
    return parse_routes(text, path, build)


def parse_routes(text: str, path: Path, build: BuildContext) -> RoutesFile:
    """Validate routes from YAML text (``path`` names it in errors), environment substituted."""
    try:
        document = yaml.safe_load(substitute_env(text, build.environ))
    except yaml.YAMLError as exc:
        raise RoutesError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("routes"), list):
        raise RoutesError(f"{path}: expected a top-level 'routes:' list")
    routes = [_route(raw, f"{path}: route {i}", build) for i, raw in enumerate(document["routes"], 1)]
    names = [r.name for r in routes]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise RoutesError(f"{path}: route names must be unique; repeated: {', '.join(repeated)}")
    return RoutesFile(path, routes)


def _route(raw: Any, where: str, build: BuildContext) -> Route:
    if not isinstance(raw, dict):
        raise RoutesError(f"{where}: expected a mapping with name, from, steps, to")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise RoutesError(f"{where}: field 'name': expected lower-case letters, digits and dashes, "
                          f"got {name!r}")
    where = f"{where.rsplit(': route', 1)[0]}: route {name!r}"
    unknown = sorted(set(raw) - _ROUTE_KEYS)
    if unknown:
        raise RoutesError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
                          f"expected {', '.join(sorted(_ROUTE_KEYS))}")
    if "from" not in raw:
        raise RoutesError(f"{where}: field 'from' is required")
    delivery = raw.get("delivery", "at-least-once")
    if delivery not in DELIVERIES:
        raise RoutesError(f"{where}: field 'delivery': expected one of {', '.join(DELIVERIES)}")
    route = Route(name=name, source=parse_endpoint(raw["from"], f"{where}, from", build, reading=True),
                  steps=parse_steps(raw.get("steps"), where, build),
                  to=parse_endpoints(raw.get("to"), where, build),
                  description=str(raw.get("description", "")), delivery=delivery)
    for path, step in route.all_steps():
        step.bind(name, path)
    if not route.all_endpoints():
        raise RoutesError(f"{where}: field 'to': the route sends nowhere; name at least one endpoint "
                          "(in 'to' or in a choice branch)")
    if delivery == "exactly-once":
        kinds = {route.source.kind, *(e.kind for e in route.all_endpoints())}
        if kinds != {"kafka"}:
            raise RoutesError(f"{where}: field 'delivery': exactly-once needs kafka in 'from' and "
                              f"in every 'to' (this route uses {', '.join(sorted(kinds))})")
    return route
