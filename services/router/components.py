"""Turn the routes file's step and endpoint entries into :class:`Step` / :class:`Endpoint` objects.

Each entry is a one-key mapping ``{kind: config}``; the kind is looked up in the registry and
the config validated by the kind's pydantic model. Every error names where it happened, down to
the field: ``route 'orders-to-erp', step 2 (map 'erp-row'): field 'fields.Rate': ...``.
A scalar config fills the kind's ``shorthand`` field (``- filter: "currency == 'USD'"``).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import ValidationError

from bus.errors import ConfigError
from services.router.endpoints.base import ENDPOINTS, Endpoint
from services.router.steps.base import STEPS, BuildContext, Step


class RoutesError(ConfigError):
    """The routes file is invalid; the message names the route, the step and the field."""


C = TypeVar("C", Step, Endpoint)


def _entry(entry: Any, registry: dict[str, type[C]], what: str, where: str) -> tuple[str, type[C], Any]:
    if not isinstance(entry, dict) or len(entry) != 1:
        raise RoutesError(f"{where}: expected one {what} kind as a single key, e.g. "
                          f"'{next(iter(registry))}: {{...}}'; got {entry!r}"[:400])
    kind, config = next(iter(entry.items()))
    if kind not in registry:
        raise RoutesError(f"{where}: unknown {what} kind {kind!r}; known: {', '.join(sorted(registry))}")
    return kind, registry[kind], config


def _config(cls: type[C], config: Any, where: str) -> Any:
    if config is None:
        config = {}
    shorthand = getattr(cls, "shorthand", None)
    if not isinstance(config, dict) and shorthand:
        config = {shorthand: config}
    if not isinstance(config, dict):
        raise RoutesError(f"{where}: expected a mapping of settings, got {config!r}"[:300])
    try:
        return cls.Config.model_validate(config)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(settings)"
            message = err["msg"].removeprefix("Value error, ")
            problems.append(f"field '{loc}': {message}")
        raise RoutesError(f"{where}: " + "; ".join(problems)) from None


def parse_steps(entries: Any, where: str, build: BuildContext) -> list[Step]:
    """Steps from a list of ``{kind: config}`` entries."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise RoutesError(f"{where}: 'steps' must be a list")
    steps: list[Step] = []
    for number, entry in enumerate(entries, start=1):
        kind, cls, raw = _entry(entry, STEPS, "step", f"{where}, step {number}")
        label = raw.get("name") if isinstance(raw, dict) else None
        here = f"{where}, step {number} ({kind}{f' {label!r}' if label else ''})"
        config = _config(cls, raw, here)
        name = config.name or f"{number}-{kind}"
        try:
            steps.append(cls(name, config, build))
        except (ConfigError, ValueError) as exc:
            if isinstance(exc, RoutesError):
                raise
            raise RoutesError(f"{here}: {exc}") from None
    names = [s.name for s in steps]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RoutesError(f"{where}: step names must be unique; repeated: {', '.join(duplicates)}")
    return steps


def parse_endpoint(entry: Any, where: str, build: BuildContext, *, reading: bool) -> Endpoint:
    """One endpoint from a ``{kind: config}`` entry, checked to read or to write."""
    kind, cls, raw = _entry(entry, ENDPOINTS, "endpoint", where)
    here = f"{where} ({kind})"
    if reading and not cls.can_read:
        readers = ", ".join(sorted(k for k, c in ENDPOINTS.items() if c.can_read))
        raise RoutesError(f"{here}: {kind} cannot be a route's 'from'; use one of {readers}")
    if not reading and not cls.can_write:
        writers = ", ".join(sorted(k for k, c in ENDPOINTS.items() if c.can_write))
        raise RoutesError(f"{here}: {kind} cannot be a 'to'; use one of {writers}")
    config = _config(cls, raw, here)
    try:
        return cls(kind, config, build)
    except (ConfigError, ValueError) as exc:
        raise RoutesError(f"{here}: {exc}") from None


def parse_endpoints(entries: Any, where: str, build: BuildContext) -> list[Endpoint]:
    """The ``to`` endpoints of a route or a choice branch."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        entries = [entries]
    return [parse_endpoint(e, f"{where}, to {i}", build, reading=False)
            for i, e in enumerate(entries, start=1)]
