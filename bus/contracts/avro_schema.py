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

from bus.errors import InvalidInput


class InvalidSchema(InvalidInput, ValueError):
    """A schema text is not JSON, not valid Avro, or its defaults do not match their types.

    The schema registry answers it with Confluent's 42201 (its own subclass carries the code).
    """


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
    return json.dumps(_ordered(parsed.to_json()), separators=(",", ":"), ensure_ascii=False)


_TYPE_KEYS = ("type", "name", "namespace", "doc", "aliases", "fields", "symbols", "items", "values", "size")
_FIELD_KEYS = ("name", "type", "doc", "default", "order", "aliases")


def _ordered(node: Any, keys: tuple[str, ...] = _TYPE_KEYS) -> Any:
    """Keys in the order people write Avro (``type``, ``name``... / a field's ``name``, ``type``),
    then the rest alphabetically, so the stored text is both deterministic and readable."""
    if isinstance(node, list):
        return [_ordered(item, keys) for item in node]
    if not isinstance(node, dict):
        return node
    order = {key: i for i, key in enumerate(keys)}
    result = {}
    for key in sorted(node, key=lambda k: (order.get(k, len(order)), k)):
        value = node[key]
        if key == "fields" and keys is _TYPE_KEYS:
            result[key] = [_ordered(field, _FIELD_KEYS) for field in value]
        elif key == "default":
            result[key] = json.loads(json.dumps(value, sort_keys=True))  # data: only key order normalised
        else:
            result[key] = _ordered(value, _TYPE_KEYS)
    return result
