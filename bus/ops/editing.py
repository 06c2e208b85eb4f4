"""A dead letter's value as text a person can fix, and that text back as the bytes to replay.

What is edited depends on what the value is (:func:`editable`):

* **avro**: the value decoded with its writer schema, as JSON guided by that schema: decimals as
  strings (``"17.8000"``), bytes as UTF-8 text when they are, else ``{"$base64": "..."}``,
  timestamps and dates as ISO 8601, a union as its branch's value, enums as their symbol. Back,
  the text must give a value valid against the *same writer schema*; it is encoded with the same
  schema id in Confluent framing, so every reader reads it as it read the original.
* **avro-body**: a ``RawDelivery`` (intake topics) whose ``body`` holds a storefront's or a
  carrier's JSON: the body alone, as pretty JSON (it must parse); the envelope is kept as it was.
* **json**: a JSON value, as pretty JSON (it must parse; what is typed is what is produced).
* **text**: UTF-8 text as it is; **base64**: other bytes, as base64.

Numbers in JSON keep their digits (``17.80`` stays ``17.80``). A refusal is an
:class:`~bus.errors.InvalidInput` naming the field path (``lines[0].quantity: expected an
integer``) and never quoting the value, which may be personal data.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO
from typing import Any, Literal

from fastavro import schemaless_writer

from bus.errors import InvalidInput
from bus.ops import avro_json
from bus.ops.decoding import Decoded
from bus.serde.wire import header

Kind = Literal["avro", "avro-body", "json", "text", "base64"]
RAW_DELIVERY = "ecombus.v1.RawDelivery"


@dataclass(frozen=True)
class Editable:
    """A value as a person edits it, and what turning their text back into bytes needs.

    Attributes:
        kind: see the module docstring.
        text: the value as text (what the editor starts with).
        schema_id / schema: the writer schema (avro kinds; parsed by fastavro).
        envelope: the decoded RawDelivery whose body is edited (``avro-body``).
    """

    kind: Kind
    text: str
    schema_id: int | None = None
    schema: Any = None
    envelope: dict[str, Any] | None = None

    def rebuild(self, text: str) -> bytes:
        """The bytes to produce for the edited ``text``.

        Raises:
            InvalidInput: the text is not valid for this kind or schema (names the field path).
        """
        if self.kind == "text":
            return text.encode("utf-8")
        if self.kind == "base64":
            try:
                return base64.b64decode("".join(text.split()), validate=True)
            except binascii.Error:
                raise InvalidInput("not valid base64") from None
        parsed = parse_json(text)
        if self.kind == "json":
            return text.strip().encode("utf-8")
        if self.kind == "avro-body":
            assert self.envelope is not None
            value = {**self.envelope, "body": text.strip().encode("utf-8")}
        else:
            value = avro_json.from_json(self.schema, parsed)
        return encode(self.schema, self.schema_id, value)


def editable(decoded: Decoded, original: bytes | None, schema: Any = None) -> Editable:
    """How the value ``original`` (shown as ``decoded``) is edited.

    Args:
        schema: the writer schema of an Avro value (``AvroDecoder.writer_schema(decoded.schema_id)``).
    """
    data = original or b""
    if decoded.kind == "avro" and schema is not None:
        value = decoded.value
        if _name(schema) == RAW_DELIVERY and isinstance(value, dict) and isinstance(value.get("body"), bytes):
            body = _json_text(value["body"])
            if body is not None:
                return Editable("avro-body", body, decoded.schema_id, schema, value)
        return Editable("avro", pretty(avro_json.to_json(schema, value)), decoded.schema_id, schema)
    as_json = _json_text(data)
    if as_json is not None:
        return Editable("json", as_json)
    try:
        return Editable("text", data.decode("utf-8"))
    except UnicodeDecodeError:
        return Editable("base64", base64.encodebytes(data).decode("ascii"))


def parse_json(text: str) -> Any:
    """JSON with its numbers' digits kept (decimals as :class:`~decimal.Decimal`).

    Raises:
        InvalidInput: not JSON (where, never what).
    """
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise InvalidInput("JSON nested too deep") from None


def pretty(value: Any, level: int = 0) -> str:
    """JSON indented by two spaces, Unicode as it is, decimals with their digits."""
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(str(k), ensure_ascii=False)}: {pretty(v, level + 1)}"
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + pretty(v, level + 1) for v in value) + "\n" + pad + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def encode(schema: Any, schema_id: int | None, value: Any) -> bytes:
    """``value`` written with ``schema`` behind the Confluent header of ``schema_id``.

    Raises:
        InvalidInput: the value does not fit the schema (after :func:`avro_json.from_json`, only
            what it does not check, such as a decimal's precision).
    """
    assert schema_id is not None, "an Avro value has a schema id"
    out = BytesIO()
    out.write(header(schema_id))
    try:
        schemaless_writer(out, schema, value)
    except Exception as exc:  # fastavro raises several types; its messages may quote the value
        raise InvalidInput(f"the value does not fit schema {_name(schema)} ({type(exc).__name__})") from None
    return out.getvalue()


def _json_text(data: bytes) -> str | None:
    """``data`` as pretty JSON text, or None when it is not UTF-8 JSON."""
    try:
        return pretty(json.loads(data.decode("utf-8"), parse_float=Decimal))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _name(schema: Any) -> str:
    return str(schema.get("name", "")) if isinstance(schema, dict) else str(schema)
