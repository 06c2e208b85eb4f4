"""Confluent-framed Avro with plain fastavro: what a hand-written Python pipeline uses.

Shared by the router benchmark's ``bare`` arm and its ``quix+fastavro`` arm (which imports this
file from ``.venv-quix``, so it depends on fastavro only). ecombus' own codec compiles its
readers (``bus.serde.compiled``); these are the library's interpreter, as anyone writes them.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

HEADER_SIZE = 5


def decoder(schema: Any) -> Callable[[bytes], Any]:
    """Decode a framed value written with ``schema`` (header not checked: the bench wrote it)."""
    parsed = parse_schema(schema)

    def decode(value: bytes) -> Any:
        buffer = io.BytesIO(value)
        buffer.seek(HEADER_SIZE)
        return schemaless_reader(buffer, parsed, None)

    return decode


def encoder(schema: Any, schema_id: int) -> Callable[[Any], bytes]:
    """Encode a value with ``schema`` behind the Confluent header of ``schema_id``."""
    parsed = parse_schema(schema)
    header = struct.pack(">bI", 0, schema_id)

    def encode(value: Any) -> bytes:
        out = io.BytesIO()
        out.write(header)
        schemaless_writer(out, parsed, value)
        return out.getvalue()

    return encode
