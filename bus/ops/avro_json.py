"""Avro values as JSON a person reads and edits, and back, guided by the writer schema.

:func:`to_json` turns a value as fastavro decodes it (Decimal, datetime, bytes, a union as its
branch's value) into plain JSON: decimals as strings, bytes as UTF-8 text when they are (else
``{"$base64": "..."}``), timestamps, dates and times as ISO 8601. :func:`from_json` is its
inverse and a validator: it accepts only what the schema accepts and names the field path of the
first problem (``lines[0].quantity: expected an integer``), never the value.

Schemas are fastavro's parsed form (``AvroDecoder.writer_schema``); a schema as JSON is parsed first.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from fastavro import parse_schema

from bus.errors import InvalidInput

_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_TIMESTAMPS = ("timestamp-millis", "timestamp-micros", "local-timestamp-millis", "local-timestamp-micros")
_JSON_SHAPES: dict[type, tuple[str, ...]] = {
    dict: ("record", "map", "bytes", "fixed"), list: ("array",), bool: ("boolean",),
    str: ("string", "enum", "bytes", "fixed", "int", "long"),
    int: ("int", "long", "float", "double", "bytes", "fixed"),
    Decimal: ("float", "double", "bytes", "fixed"), float: ("float", "double"), type(None): ("null",)}
"""Avro types a JSON value's Python type may stand for (timestamps are longs, decimals bytes)."""


class _Mismatch(Exception):
    def __init__(self, path: str, expected: str) -> None:
        super().__init__(f"{path or 'the value'}: {expected}")
        self.path = path


def _parsed(schema: Any) -> Any:
    if isinstance(schema, dict) and schema.get("__fastavro_parsed"):
        return schema
    return parse_schema(json.loads(schema) if isinstance(schema, str) else schema)


class _Types:
    """Named types of one parsed schema, so a reference by name resolves to its definition."""

    def __init__(self, schema: Any) -> None:
        named = schema.get("__named_schemas", {}) if isinstance(schema, dict) else {}
        self.named: dict[str, Any] = dict(named)

    def resolve(self, schema: Any) -> Any:
        while isinstance(schema, str) and schema in self.named:
            schema = self.named[schema]
        return schema


def _type(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    return schema if isinstance(schema, str) else str(schema.get("type"))


def _logical(schema: Any) -> str | None:
    return schema.get("logicalType") if isinstance(schema, dict) else None


def to_json(schema: Any, value: Any) -> Any:
    """``value`` (as fastavro decodes it with ``schema``) as plain JSON."""
    parsed = _parsed(schema)
    return _to(_Types(parsed), parsed, value)


def _to(types: _Types, schema: Any, value: Any) -> Any:
    schema = types.resolve(schema)
    kind, logical = _type(schema), _logical(schema)
    if kind == "union":
        return _to(types, _branch_for(types, schema, value), value)
    if value is None:
        return None
    if logical == "decimal" or isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        micros = logical is not None and logical.endswith("micros")
        text = value.isoformat(timespec="microseconds" if micros else "milliseconds")
        return text.replace("+00:00", "Z")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"$base64": base64.b64encode(value).decode("ascii")}
    if kind == "record":
        return {f["name"]: _to(types, f["type"], value.get(f["name"])) for f in schema["fields"]}
    if kind == "array":
        return [_to(types, schema["items"], item) for item in value]
    if kind == "map":
        return {k: _to(types, schema["values"], v) for k, v in value.items()}
    return str(value) if logical == "uuid" else value


def _branch_for(types: _Types, branches: list[Any], value: Any) -> Any:
    """The union branch a decoded value belongs to."""
    for branch in branches:
        if _holds(types.resolve(branch), value):
            return branch
    return branches[-1]


def _holds(schema: Any, value: Any) -> bool:
    """Whether ``value``, as fastavro decodes it, is of type ``schema``."""
    kind, logical = _type(schema), _logical(schema)
    if kind == "null" or value is None:
        return kind == "null" and value is None
    if isinstance(value, bool):
        return kind == "boolean"
    if kind in ("int", "long"):
        return isinstance(value, int | datetime | date | time)
    if kind in ("float", "double"):
        return isinstance(value, float)
    if kind == "string":
        return isinstance(value, str) or logical == "uuid"
    if kind in ("bytes", "fixed"):
        return isinstance(value, bytes | Decimal)
    if kind == "enum":
        return isinstance(value, str) and value in schema.get("symbols", ())
    if kind == "array":
        return isinstance(value, list)
    return kind in ("map", "record") and isinstance(value, dict)


def from_json(schema: Any, value: Any) -> Any:
    """The Avro value (as fastavro writes it) for JSON ``value``, valid against ``schema``.

    Raises:
        InvalidInput: the first problem, naming its field path (never the value).
    """
    parsed = _parsed(schema)
    try:
        return _from(_Types(parsed), parsed, value, "")
    except _Mismatch as exc:
        raise InvalidInput(str(exc), field=exc.path or None) from None


def _from(types: _Types, schema: Any, value: Any, path: str) -> Any:
    schema = types.resolve(schema)
    kind, logical = _type(schema), _logical(schema)
    if kind == "union":
        return _from_union(types, schema, value, path)
    if logical is not None and value is not None:
        converted = _from_logical(schema, logical, value, path)
        if converted is not _NOT_LOGICAL:
            return converted
    simple = _SIMPLE.get(kind)
    if simple is not None:
        return simple(schema, value, path)
    if kind == "record":
        return _from_record(types, schema, value, path)
    if kind == "array":
        if not isinstance(value, list):
            raise _Mismatch(path, "expected a list")
        return [_from(types, schema["items"], item, f"{path}[{i}]") for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise _Mismatch(path, "expected an object")
        return {k: _from(types, schema["values"], v, f"{path}[{json.dumps(k, ensure_ascii=False)}]")
                for k, v in value.items()}
    raise _Mismatch(path, f"has a type this editor does not know ({kind})")


def _from_union(types: _Types, branches: list[Any], value: Any, path: str) -> Any:
    resolved = [types.resolve(b) for b in branches]
    if value is None:
        if "null" in (_type(b) for b in resolved):
            return None
        raise _Mismatch(path, "may not be null")
    shapes = _JSON_SHAPES.get(type(value), ())
    candidates = [b for b in resolved if _type(b) in shapes]
    if not candidates:  # an optional field of the wrong type: say what its one type wants
        others = [b for b in resolved if _type(b) != "null"]
        candidates = others if len(others) == 1 else []
    problems = []
    for branch in candidates:
        try:
            return _from(types, branch, value, path)
        except _Mismatch as exc:
            problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    names = ", ".join(_describe(b) for b in resolved)
    raise _Mismatch(path, f"expected one of: {names}")


def _from_record(types: _Types, schema: dict[str, Any], value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Mismatch(path, f"expected an object ({_describe(schema)})")
    fields = {f["name"]: f for f in schema["fields"]}
    for name in value:
        if name not in fields:
            raise _Mismatch(_join(path, str(name)), f"is not a field of {_describe(schema)}")
    out: dict[str, Any] = {}
    for name, spec in fields.items():
        where = _join(path, name)
        if name in value:
            out[name] = _from(types, spec["type"], value[name], where)
        elif "default" in spec:
            out[name] = _from(types, spec["type"], spec["default"], where)
        else:
            raise _Mismatch(where, "is missing")
    return out


_NOT_LOGICAL = object()


def _from_logical(schema: dict[str, Any], logical: str, value: Any, path: str) -> Any:
    if logical == "decimal":
        return _decimal(schema, value, path)
    if logical in _TIMESTAMPS and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise _Mismatch(path, "expected an ISO 8601 time such as 2025-06-03T09:00:00Z") from None
        return moment if moment.tzinfo or logical.startswith("local") else moment.replace(tzinfo=UTC)
    if logical == "date" and isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise _Mismatch(path, "expected an ISO 8601 date such as 2025-06-03") from None
    if logical in ("time-millis", "time-micros") and isinstance(value, str):
        try:
            return time.fromisoformat(value)
        except ValueError:
            raise _Mismatch(path, "expected an ISO 8601 time of day such as 09:00:00") from None
    return _NOT_LOGICAL


def _decimal(schema: dict[str, Any], value: Any, path: str) -> Decimal:
    scale, precision = int(schema.get("scale", 0)), int(schema.get("precision", 38))
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal | float):
        raise _Mismatch(path, "expected a decimal number (as a string, e.g. \"17.80\")")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _Mismatch(path, "expected a decimal number (as a string, e.g. \"17.80\")") from None
    exponent = number.as_tuple().exponent
    if not number.is_finite() or not isinstance(exponent, int):
        raise _Mismatch(path, "expected a finite decimal number")
    if -exponent > scale:
        raise _Mismatch(path, f"expected at most {scale} decimal places")
    quantized = number.quantize(Decimal(1).scaleb(-scale))
    if len(quantized.as_tuple().digits) > precision:
        raise _Mismatch(path, f"expected at most {precision} digits")
    return quantized


def _null(_schema: Any, value: Any, path: str) -> None:
    if value is not None:
        raise _Mismatch(path, "expected null")


def _boolean(_schema: Any, value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _Mismatch(path, "expected true or false")
    return value


def _integer(schema: Any, value: Any, path: str) -> int:
    kind = _type(schema)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Mismatch(path, "expected an integer")
    low, high = _INT_RANGE[kind]
    if not low <= value <= high:
        raise _Mismatch(path, f"expected an integer that fits an Avro {kind}")
    return value


def _floating(_schema: Any, value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise _Mismatch(path, "expected a number")
    return float(value)


def _string(_schema: Any, value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _Mismatch(path, "expected a string")
    return value


def _bytes(schema: Any, value: Any, path: str) -> bytes:
    if isinstance(value, str):
        data = value.encode("utf-8")
    elif isinstance(value, dict) and set(value) == {"$base64"} and isinstance(value["$base64"], str):
        try:
            data = base64.b64decode(value["$base64"], validate=True)
        except binascii.Error:
            raise _Mismatch(path, "expected valid base64 in $base64") from None
    else:
        raise _Mismatch(path, 'expected text, or {"$base64": "..."} for other bytes')
    if _type(schema) == "fixed" and len(data) != int(schema["size"]):
        raise _Mismatch(path, f"expected exactly {schema['size']} bytes")
    return data


def _enum(schema: Any, value: Any, path: str) -> str:
    symbols = schema.get("symbols", [])
    if value not in symbols:
        raise _Mismatch(path, f"expected one of {', '.join(symbols)}")
    return str(value)


_SIMPLE = {"null": _null, "boolean": _boolean, "int": _integer, "long": _integer, "float": _floating,
           "double": _floating, "string": _string, "bytes": _bytes, "fixed": _bytes, "enum": _enum}


def _describe(schema: Any) -> str:
    kind, logical = _type(schema), _logical(schema)
    if kind in ("record", "enum", "fixed"):
        return str(schema.get("name", kind)).rsplit(".", 1)[-1]
    return logical or kind


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
