"""Parsing and normalising Avro schemas, the only schema type the registry accepts.

Two texts that describe the same schema (whitespace, key order, a name written short or
fully qualified) normalise to the same :func:`canonical_text`, so they get the same id, as
Confluent's comparison of canonical strings does. Defaults, docs, aliases and logical types are
kept: two schemas that differ only in a default are different schemas.
"""

from __future__ import annotations

import json
from typing import Any

import avro.errors
import avro.schema
import fastavro

from bus.registry.errors import InvalidSchema

SchemaInput = str | dict[str, Any] | list[Any]
"""A schema as text (JSON) or already decoded."""


def _decoded(schema: SchemaInput) -> Any:
    if not isinstance(schema, str):
        return schema
    try:
        return json.loads(schema)
    except ValueError as exc:
        raise InvalidSchema(f"Invalid schema: not JSON ({exc})") from exc


def parse(schema: SchemaInput) -> avro.schema.Schema:
    """Parse and validate an Avro schema (names, types, and that defaults match their types).

    Raises:
        InvalidSchema: the text is not JSON or not a valid Avro schema; the message says why.
    """
    decoded = _decoded(schema)
    try:
        fastavro.parse_schema(decoded, _write_hint=False)
        return avro.schema.make_avsc_object(decoded)
    except (avro.errors.AvroException, fastavro.schema.SchemaParseException, ValueError,
            TypeError, KeyError, AttributeError) as exc:
        raise InvalidSchema(f"Invalid schema: {exc}") from exc


def canonical_text(schema: SchemaInput | avro.schema.Schema) -> str:
    """The normalised JSON text the registry stores and compares.

    Raises:
        InvalidSchema: as :func:`parse`.
    """
    parsed = schema if isinstance(schema, avro.schema.Schema) else parse(schema)
    return json.dumps(parsed.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
