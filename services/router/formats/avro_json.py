"""JSON-shaped values ⇄ the Python values fastavro writes for a schema.

Routes build bodies from text (CSV cells, JSON, XML, YAML in route tests): amounts as
``"17.80"``, times as ``"2025-06-03T09:00:00Z"``, counts as ``"120"``. :func:`to_avro_form`
converts such a value to what the schema wants (Decimal for decimals, datetime for
timestamp-millis, int for int/long), fills defaults of missing fields, and raises
:class:`~bus.errors.SerializationError` naming the field that does not fit and the type it
wanted, never the value (it may be personal data, and the message reaches logs and DLQ headers).
Values already in Avro form pass unchanged.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from fastavro import parse_schema

from bus.errors import SerializationError
from services.router.functions import utc_time

_PRIMITIVE = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
_RANGES = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


class AvroShaper:
    """Converts values for one schema (parsed once)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.named: dict[str, Any] = {}
        self.schema = parse_schema(schema, named_schemas=self.named)

    def __call__(self, value: Any) -> Any:
        return self._convert(self.schema, value, "")

    def _convert(self, schema: Any, value: Any, where: str) -> Any:
        if isinstance(schema, str):
            if schema in _PRIMITIVE:
                return _primitive(schema, value, where)
            return self._convert(self.named[schema], value, where)
        if isinstance(schema, list):
            return self._union(schema, value, where)
        kind = schema["type"]
        logical = schema.get("logicalType")
        if logical == "decimal":
            return _decimal(value, where)
        if logical in ("timestamp-millis", "timestamp-micros"):
            return _time(value, where)
        if kind == "record":
            if not isinstance(value, dict):
                raise SerializationError(
                    f"field '{where or '(body)'}': expected a record, got {_kind(value)}")
            out = {}
            for field in schema["fields"]:
                name = field["name"]
                here = f"{where}.{name}" if where else name
                if name in value:
                    out[name] = self._convert(field["type"], value[name], here)
                elif "default" in field:
                    out[name] = field["default"]
                else:
                    raise SerializationError(f"field '{here}' is required by {schema['name']} but missing")
            return out
        if kind == "array":
            if not isinstance(value, list):
                raise SerializationError(f"field '{where}': expected a list, got {_kind(value)}")
            return [self._convert(schema["items"], v, f"{where}[{i}]") for i, v in enumerate(value)]
        if kind == "map":
            if not isinstance(value, dict):
                raise SerializationError(f"field '{where}': expected a map, got {_kind(value)}")
            return {k: self._convert(schema["values"], v, f"{where}.{k}") for k, v in value.items()}
        if kind == "enum":
            if value not in schema["symbols"]:
                raise SerializationError(f"field '{where}': a {_kind(value)} that is not one of "
                                         f"{schema['symbols']}")
            return value
        return self._convert(kind, value, where)

    def _union(self, options: list[Any], value: Any, where: str) -> Any:
        if value is None and "null" in options:
            return None
        problems = []
        for option in options:
            if option == "null":
                continue
            try:
                return self._convert(option, value, where)
            except SerializationError as exc:
                problems.append(str(exc))
        raise SerializationError(problems[0] if problems else f"field '{where}': null is not allowed")


def _primitive(kind: str, value: Any, where: str) -> Any:
    try:
        if kind in ("int", "long") and not isinstance(value, bool):
            number = value if isinstance(value, int) else int(str(value).strip())
            low, high = _RANGES[kind]
            if not low <= number <= high:
                raise SerializationError(f"field '{where}': out of range for {kind} ({low}..{high})")
            return number
        if kind in ("float", "double") and not isinstance(value, bool | dict | list):
            return float(value)
        if kind == "string" and isinstance(value, str | int | Decimal) and not isinstance(value, bool):
            return str(value)
        if kind == "boolean" and isinstance(value, bool):
            return value
        if kind == "boolean" and str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        if kind == "null" and value is None:
            return None
        if kind == "bytes" and isinstance(value, bytes | str):
            return value.encode() if isinstance(value, str) else value
    except (TypeError, ValueError, OverflowError):
        pass
    raise SerializationError(f"field '{where}': a {_kind(value)} that is not a valid {kind}")


def _kind(value: Any) -> str:
    """What a value is, for messages that must not quote it."""
    return "null" if value is None else type(value).__name__


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise SerializationError(f"field '{where}': a {_kind(value)} that is not a decimal number") from None


def _time(value: Any, where: str) -> datetime:
    try:
        parsed = utc_time(value)
    except ValueError:
        raise SerializationError(f"field '{where}': a {_kind(value)} that is not an ISO 8601 time") from None
    if parsed is None:
        raise SerializationError(f"field '{where}': null is not a time")
    return parsed
