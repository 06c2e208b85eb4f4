"""Avro values as editable JSON and back, guided by the writer schema: exact round trips, and
refusals that name the field path and never the value."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from io import BytesIO
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from bus.contracts import default_schema_set
from bus.contracts.examples import order_placed
from bus.errors import InvalidInput
from bus.ops.avro_json import from_json, to_json

ORDER = parse_schema(json.loads(default_schema_set().schema_json("OrderPlaced")))

KINDS = parse_schema({"type": "record", "name": "Kinds", "namespace": "t", "fields": [
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2}},
    {"name": "at", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]},
    {"name": "raw", "type": "bytes"},
    {"name": "tags", "type": {"type": "map", "values": "int"}},
    {"name": "state", "type": {"type": "enum", "name": "State", "symbols": ["NEW", "DONE"]}},
    {"name": "either", "type": ["null", "int", "string"], "default": None},
    {"name": "ratio", "type": "double"},
]})


def refusal(schema: Any, value: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        from_json(schema, value)
    return caught.value


def decoded(schema: Any, value: Any) -> Any:
    """``value`` as fastavro reads it back (decimals at the schema's scale, aware datetimes)."""
    out = BytesIO()
    schemaless_writer(out, schema, value)
    out.seek(0)
    return schemaless_reader(out, schema, None)


def test_an_order_goes_to_json_and_back_unchanged() -> None:
    value = decoded(ORDER, order_placed(line_count=2).to_avro())
    shown = to_json(ORDER, value)
    assert shown["lines"][0]["unit_price"]["shop"]["amount"] == "17.8000", "decimals as strings"
    assert shown["placed_at"].endswith("Z") and "T" in shown["placed_at"], "timestamps in ISO 8601"
    assert from_json(ORDER, json.loads(json.dumps(shown))) == value


def test_bytes_that_are_not_text_go_as_base64_and_come_back() -> None:
    value = {"price": Decimal("12.50"), "at": datetime(2025, 6, 3, 9, 0, tzinfo=UTC), "raw": b"\xff\x00",
             "tags": {"a": 1}, "state": "NEW", "either": "x", "ratio": 0.5}
    shown = to_json(KINDS, value)
    assert shown["raw"] == {"$base64": "/wA="} and shown["price"] == "12.50"
    assert shown["at"] == "2025-06-03T09:00:00.000Z"
    assert from_json(KINDS, shown) == value
    assert from_json(KINDS, {**shown, "raw": "plain text"})["raw"] == b"plain text"


@pytest.mark.parametrize("change, path, expected", [
    ({"price": "12.345"}, "price", "expected at most 2 decimal places"),
    ({"price": "12345.67"}, "price", "expected at most 6 digits"),
    ({"price": 12.5}, None, None),
    ({"at": "yesterday"}, "at", "expected an ISO 8601 time"),
    ({"raw": {"$base64": "%%%"}}, "raw", "expected valid base64"),
    ({"tags": {"a": "one"}}, 'tags["a"]', "expected an integer"),
    ({"state": "LOST"}, "state", "expected one of NEW, DONE"),
    ({"either": 1.5}, "either", "expected one of: null, int, string"),
    ({"ratio": "half"}, "ratio", "expected a number"),
    ({"ratio": None}, "ratio", "expected a number"),
    ({"extra": 1}, "extra", "is not a field of Kinds"),
])
def test_a_wrong_value_is_refused_naming_its_path(change: dict[str, Any], path: str | None,
                                                   expected: str | None) -> None:
    base = {"price": "1.00", "at": None, "raw": "", "tags": {}, "state": "NEW", "ratio": 1}
    if expected is None:
        assert from_json(KINDS, {**base, **change})["price"] == Decimal("12.50")
        return
    error = refusal(KINDS, {**base, **change})
    assert str(error).startswith(f"{path}: {expected}"), str(error)


def test_a_missing_field_without_default_is_named_and_one_with_a_default_is_filled() -> None:
    base = {"price": "1.00", "at": None, "raw": "", "tags": {}, "state": "NEW", "ratio": 1}
    assert from_json(KINDS, base)["either"] is None
    without = {k: v for k, v in base.items() if k != "state"}
    assert str(refusal(KINDS, without)) == "state: is missing"


def test_refusals_name_nested_paths_and_never_quote_the_value() -> None:
    shown = to_json(ORDER, order_placed(line_count=2).to_avro())
    shown["lines"][1]["quantity"] = "two, for hanako.sato@example.jp"
    error = refusal(ORDER, shown)
    assert str(error) == "lines[1].quantity: expected an integer" and error.field == "lines[1].quantity"
    shown = to_json(ORDER, order_placed().to_avro())
    shown["customer"]["email"] = 42
    assert str(refusal(ORDER, shown)) == "customer.email: expected a string"
    shown = to_json(ORDER, order_placed().to_avro())
    shown["financial_status"] = "PAID_BY_hanako.sato@example.jp"
    assert "hanako" not in str(refusal(ORDER, shown))
