"""Values as the journey index reads them: any writer's Avro, else JSON, else the bytes.

:class:`RecordDecoder` reads Confluent-framed Avro with the schema it was *written* with (fetched
from the registry once per schema id, like ``ecombus tail``), so the console reads every version
of every topic without a reader schema of its own. Each writer schema is compiled once
(:func:`bus.serde.compiled.compile_reader`) with its timestamps left as epoch milliseconds (their
``logicalType`` dropped: the bytes are the same longs), because the index stores milliseconds and
a datetime per field would be made only to be taken apart again. A value that is not framed Avro
is read as JSON when it is a JSON object, else returned as bytes (the index counts it as skipped).
"""

from __future__ import annotations

import json
from io import BytesIO
from typing import Any

from fastavro import parse_schema, schemaless_reader

from bus.errors import SerializationError
from bus.serde.compiled import Decode, compile_reader
from bus.serde.registry_client import RegistryClient
from bus.serde.wire import HEADER_SIZE, MAGIC_BYTE, schema_id_of

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


class RecordDecoder:
    """Decode any record of the bus for the index (``decode(topic, data)``).

    Args:
        registry: where writer schemas are fetched by id (once each).

    Raises (from :meth:`decode`):
        SerializationError: framed Avro that cannot be read (unknown schema id, corrupt data).
        TransientError: the registry is unreachable (first sight of a schema id only).
    """

    def __init__(self, registry: RegistryClient) -> None:
        self.registry = registry
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
            parsed = parse_schema(without_timestamps(json.loads(text)))
        except Exception as exc:  # fastavro raises several types for invalid schemas
            raise SerializationError(f"schema id {schema_id}: not a valid Avro schema: {exc}") from exc
        plan = self._plans[schema_id] = (parsed, compile_reader(parsed))
        return plan
