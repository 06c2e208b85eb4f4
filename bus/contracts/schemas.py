"""Load the Avro contracts from ``schemas/`` and expand them into self-contained schemas.

Layout of the folder (the source of truth for every event)::

    schemas/<Event>.avsc        one file per event: a record registered as a subject's schema
    schemas/types/<Name>.avsc   shared named types (Meta, Money, Address, enums, ...)

Every file holds exactly one named type, and refers to the others by name. What gets
registered is each event's *expanded* schema: each named type inlined at its first use and
referred to by name after that, as the Avro specification requires, so any standard client
(confluent-kafka's ``AvroDeserializer``, Kafka UI, Flink) reads it without schema references.
Docs, defaults and logical types are kept: analysts read them.

:class:`SchemaSet` works on file *texts*, so the same code loads the working tree and the
schemas at a git ref (``ecombus schemas check --against-git``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import fastavro

from bus.errors import ConfigError

SCHEMAS_DIR = Path(__file__).resolve().parent.parent.parent / "schemas"
"""``schemas/`` at the repository root; ``ECOMBUS_SCHEMAS_DIR`` overrides it (e.g. in an image)."""

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = ("record", "error", "enum", "fixed")


def read_schema_files(root: Path | None = None) -> dict[str, str]:
    """Every ``.avsc`` under ``root`` (default: the contracts), as ``{relative path: text}``.

    Raises:
        ConfigError: the folder is missing or holds no schema.
    """
    root = root or Path(os.environ.get("ECOMBUS_SCHEMAS_DIR") or SCHEMAS_DIR)
    files = {path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
             for path in sorted(root.rglob("*.avsc"))}
    if not files:
        raise ConfigError(f"no Avro schemas (*.avsc) in {root}; "
                          "set ECOMBUS_SCHEMAS_DIR to the schemas/ folder")
    return files


def fullname(name: str, namespace: str | None) -> str:
    """The Avro full name of ``name`` as written inside ``namespace``."""
    return name if "." in name or not namespace else f"{namespace}.{name}"


@dataclass(frozen=True)
class SchemaSet:
    """Named types parsed from a set of ``.avsc`` files.

    Attributes:
        types: every named type by full name, as written in its file (references unexpanded).
        events: full names of the top-level files' types, i.e. the events, sorted.
    """

    types: Mapping[str, dict[str, Any]]
    events: tuple[str, ...]

    @classmethod
    def from_files(cls, files: Mapping[str, str]) -> SchemaSet:
        """Parse ``{relative path: text}`` (see :func:`read_schema_files`).

        Raises:
            ConfigError: a file is not JSON, holds no named type, or a name is defined twice.
        """
        types: dict[str, dict[str, Any]] = {}
        events = []
        for path, text in sorted(files.items()):
            try:
                schema = json.loads(text)
            except ValueError as exc:
                raise ConfigError(f"schemas/{path}: not valid JSON: {exc}") from exc
            if not isinstance(schema, dict) or schema.get("type") not in _NAMED:
                raise ConfigError(f"schemas/{path}: expected one named type (record, enum, fixed)")
            name = fullname(schema["name"], schema.get("namespace"))
            if name in types:
                raise ConfigError(f"schemas/{path}: {name} is defined twice")
            types[name] = schema
            if "/" not in path:
                events.append(name)
        return cls(types=types, events=tuple(sorted(events)))

    def resolve(self, name: str) -> str:
        """The full name of an event or type given by full or short name.

        Raises:
            ConfigError: no such type.
        """
        if name in self.types:
            return name
        matches = [full for full in self.types if full.rsplit(".", 1)[-1] == name]
        if len(matches) != 1:
            raise ConfigError(f"no schema named {name!r} (known events: {', '.join(self.short_events())})")
        return matches[0]

    def short_events(self) -> list[str]:
        """Event names without namespace, e.g. ``OrderPlaced``."""
        return [e.rsplit(".", 1)[-1] for e in self.events]

    def expanded(self, name: str) -> dict[str, Any]:
        """The self-contained schema of ``name`` (every named type it uses inlined once).

        Raises:
            ConfigError: a referenced type is missing or the result is not valid Avro.
        """
        full = self.resolve(name)
        schema: dict[str, Any] = _Expander(self.types).expand(self.types[full], None)
        try:
            fastavro.parse_schema(schema, _write_hint=False)
        except Exception as exc:  # fastavro raises several types for invalid schemas
            raise ConfigError(f"schema {full} is not valid Avro: {exc}") from exc
        return schema

    def schema_json(self, name: str) -> str:
        """:meth:`expanded` as compact JSON: the exact text registered in the registry."""
        return json.dumps(self.expanded(name), ensure_ascii=False, separators=(",", ":"))


class _Expander:
    """Inline named types at their first use; later uses stay references (Avro rules)."""

    def __init__(self, types: Mapping[str, dict[str, Any]]) -> None:
        self.types = types
        self.defined: set[str] = set()

    def expand(self, node: Any, namespace: str | None) -> Any:
        if isinstance(node, str):
            return self._reference(node, namespace)
        if isinstance(node, list):
            return [self.expand(branch, namespace) for branch in node]
        kind = node["type"]
        if kind in _NAMED:
            return self._named(node, namespace)
        if kind == "array":
            return {**node, "items": self.expand(node["items"], namespace)}
        if kind == "map":
            return {**node, "values": self.expand(node["values"], namespace)}
        return {**node, "type": self.expand(kind, namespace)}

    def _reference(self, name: str, namespace: str | None) -> Any:
        if name in PRIMITIVES:
            return name
        full = fullname(name, namespace)
        if full in self.defined:
            in_same_namespace = full.rsplit(".", 1)[0] == namespace
            return name if in_same_namespace else full
        if full not in self.types:
            raise ConfigError(f"unknown Avro type {full!r} (no schemas/types/*.avsc defines it)")
        return self.expand(self.types[full], namespace)

    def _named(self, node: dict[str, Any], namespace: str | None) -> dict[str, Any]:
        full = fullname(node["name"], node.get("namespace", namespace))
        if full in self.defined:
            raise ConfigError(f"{full} is defined twice in one schema")
        self.defined.add(full)
        own_namespace = full.rsplit(".", 1)[0] if "." in full else None
        out = dict(node)
        if "fields" in node:
            out["fields"] = [{**f, "type": self.expand(f["type"], own_namespace)} for f in node["fields"]]
        return out


@cache
def default_schema_set() -> SchemaSet:
    """The working tree's ``schemas/`` (read once per process)."""
    return SchemaSet.from_files(read_schema_files())
