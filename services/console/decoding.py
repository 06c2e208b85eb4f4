"""Values as the journey index reads them: any writer's Avro, else JSON, else the bytes.

:class:`RecordDecoder` reads Confluent-framed Avro with the schema it was *written* with (fetched
from the registry once per schema id, like ``ecombus tail``), so the console reads every version
of every topic without a reader schema of its own. Each writer schema is compiled once
(:func:`bus.serde.compiled.compile_reader`) with its timestamps left as epoch milliseconds (their
``logicalType`` dropped: the bytes are the same longs), because the index stores milliseconds and
a datetime per field would be made only to be taken apart again. With ``keep`` (record full name
→ the fields to read), the compiled reader steps over every other field of those records
(:func:`projected`): an OrderPlaced's lines, addresses and money cost a few jumps instead of
hundreds of objects. A value that is not framed Avro is read as JSON when it is a JSON object,
else returned as bytes (the index counts it as skipped).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from io import BytesIO
from typing import Any

from fastavro import parse_schema, schemaless_reader

from bus.errors import SerializationError
from bus.serde.compiled import PRIMITIVES, Decode, compile_reader
from bus.serde.registry_client import RegistryClient
from bus.serde.wire import HEADER_SIZE, MAGIC_BYTE, schema_id_of

log = logging.getLogger(__name__)

Keep = Mapping[str, frozenset[str]]
"""Record full name (``ecombus.v1.OrderPlaced``) → the names of the fields to read."""
NAMED = frozenset({"record", "error", "enum", "fixed"})
TIMESTAMPS = frozenset({"timestamp-millis", "timestamp-micros", "local-timestamp-millis",
                        "local-timestamp-micros"})


def without_timestamps(schema: Any) -> Any:
    """``schema`` (JSON form) with the logical type of every timestamp removed."""
    if isinstance(schema, list):
        return [without_timestamps(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: without_timestamps(v) for k, v in schema.items()}
    if out.get("logicalType") in TIMESTAMPS:
        del out["logicalType"]
    return out


def projected(schema: Any, keep: Keep) -> Any:
    """A reader schema of ``schema`` (JSON form) reading only the ``keep`` fields of those records.

    Every name is written in full, and a named type whose first definition sat in a field left
    out is defined where it is first used among the fields kept.

    Raises:
        KeyError: ``schema`` uses a named type it never defines.
    """
    definitions: dict[str, tuple[Any, str]] = {}
    _collect(schema, "", definitions)
    return _project(schema, "", keep, definitions, set())


def _fullname(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _collect(schema: Any, namespace: str, out: dict[str, tuple[Any, str]]) -> None:
    if isinstance(schema, list):
        for branch in schema:
            _collect(branch, namespace, out)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in NAMED:
            full = _fullname(schema["name"], schema.get("namespace", namespace))
            out.setdefault(full, (schema, namespace))
            for f in schema.get("fields", ()):
                _collect(f["type"], full.rpartition(".")[0], out)
        elif kind in ("array", "map"):
            _collect(schema["items" if kind == "array" else "values"], namespace, out)
        elif isinstance(kind, (dict, list)):
            _collect(kind, namespace, out)


def _project(schema: Any, namespace: str, keep: Keep, definitions: dict[str, tuple[Any, str]],
             defined: set[str]) -> Any:
    if isinstance(schema, list):
        return [_project(branch, namespace, keep, definitions, defined) for branch in schema]
    if isinstance(schema, str):
        if schema in PRIMITIVES or _fullname(schema, namespace) in defined:
            return schema if schema in PRIMITIVES else _fullname(schema, namespace)
        definition, outer = definitions[_fullname(schema, namespace)]
        return _project(definition, outer, keep, definitions, defined)
    kind = schema.get("type")
    if kind in NAMED:
        full = _fullname(schema["name"], schema.get("namespace", namespace))
        if full in defined:
            return full
        defined.add(full)
        out = {k: v for k, v in schema.items() if k != "namespace"} | {"name": full}
        if "fields" in schema:
            inner = full.rpartition(".")[0]
            fields = [f for f in schema["fields"] if full not in keep or f["name"] in keep[full]]
            out["fields"] = [f | {"type": _project(f["type"], inner, keep, definitions, defined)}
                             for f in fields]
        return out
    if kind in ("array", "map"):
        part = "items" if kind == "array" else "values"
        return schema | {part: _project(schema[part], namespace, keep, definitions, defined)}
    if isinstance(kind, (dict, list)):
        return schema | {"type": _project(kind, namespace, keep, definitions, defined)}
    return schema


class RecordDecoder:
    """Decode any record of the bus for the index (``decode(topic, data)``).

    Args:
        registry: where writer schemas are fetched by id (once each).
        keep: the fields to read of each record (every field of records not named).

    Raises (from :meth:`decode`):
        SerializationError: framed Avro that cannot be read (unknown schema id, corrupt data).
        TransientError: the registry is unreachable (first sight of a schema id only).
    """

    def __init__(self, registry: RegistryClient, keep: Keep | None = None) -> None:
        self.registry = registry
        self.keep = dict(keep or {})
        self._plans: dict[int, tuple[Any, Decode | None]] = {}

    def decode(self, topic: str, data: bytes) -> Any:
        if len(data) > HEADER_SIZE and data[0] == MAGIC_BYTE:
            return self.decode_avro(topic, data)
        if data[:1] == b"{":
            try:
                return json.loads(data)
            except (ValueError, RecursionError):
                pass
        return data

    __call__ = decode

    def decode_avro(self, topic: str, data: bytes) -> Any:
        schema_id = schema_id_of(data, topic)
        parsed, compiled = self._plans.get(schema_id) or self._plan(schema_id)
        try:
            if compiled is not None:
                value, end = compiled(data, HEADER_SIZE)
            else:
                buf = BytesIO(data)
                buf.seek(HEADER_SIZE)
                value, end = schemaless_reader(buf, parsed, None), buf.tell()
        except Exception as exc:  # EOFError, IndexError, UnicodeDecodeError, ValueError...
            raise SerializationError(f"{topic}: corrupt Avro data for schema id {schema_id}: "
                                     f"{type(exc).__name__}") from exc
        if end != len(data):
            raise SerializationError(f"{topic}: {len(data) - end:+d} bytes after the value of schema id "
                                     f"{schema_id}: corrupt or truncated")
        return value

    def _plan(self, schema_id: int) -> tuple[Any, Decode | None]:
        text = self.registry.schema_by_id(schema_id)
        try:
            writer = without_timestamps(json.loads(text))
            parsed = parse_schema(writer)
        except Exception as exc:  # fastavro raises several types for invalid schemas
            raise SerializationError(f"schema id {schema_id}: not a valid Avro schema: {exc}") from exc
        compiled = None
        if self.keep:
            try:
                compiled = compile_reader(parsed, parse_schema(projected(writer, self.keep)))
            except Exception as exc:  # a schema the projection does not understand: read it all
                log.warning("schema id %d: read whole, not projected: %s: %s", schema_id,
                            type(exc).__name__, exc)
        plan = self._plans[schema_id] = (parsed, compiled or compile_reader(parsed))
        return plan
