"""Compiled Avro writers write exactly fastavro's bytes, or decline the value or the schema."""

from __future__ import annotations

import copy
import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer

from bus.contracts import TOPIC_EVENTS, schema_for_topic
from bus.contracts.examples import examples, order_placed
from bus.serde import AvroEncoder
from bus.serde.compiled_writer import compile_writer
from tests.unit.serde.fake_registry import FakeRegistry
from tests.unit.serde.test_compiled import EVERY_TYPE, _everything_values


def _fastavro(schema: Any, value: Any) -> bytes:
    out = io.BytesIO()
    schemaless_writer(out, schema, value)
    return out.getvalue()


def _compiled(schema: Any, value: Any) -> bytes:
    encode = compile_writer(schema)
    assert encode is not None
    out = bytearray()
    encode(value, out)
    return bytes(out)


def _two_branch_unions_only(schema: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(schema)
    for field in schema["fields"]:
        if field["name"] == "maybe":
            field["type"] = ["null", "string"]
    return schema


@pytest.mark.parametrize("topic", sorted(TOPIC_EVENTS))
def test_every_contract_example_encodes_as_fastavro_does(topic: str) -> None:
    schema = parse_schema(schema_for_topic(topic))
    name = TOPIC_EVENTS[topic]
    event = (order_placed(line_count=3) if name == "OrderPlaced" else examples()[name]).to_avro()
    assert _compiled(schema, event) == _fastavro(schema, event)


def test_every_avro_type_encodes_as_fastavro_does() -> None:
    schema = parse_schema(_two_branch_unions_only(EVERY_TYPE))
    values = _everything_values(200)
    for number, value in enumerate(values):
        value["maybe"] = None if number % 2 else f"値{number}"
        value["price"] = Decimal(number * 37 - 3000) / 100  # logical types as services give them
        value["at_ms"] = datetime(2025, 6, 3, 1, 12, 43, number * 1000, tzinfo=UTC)
        value["big"] = [0, 63, 64, -64, -65, 8191, 8192, 2**63 - 1, -(2**63)][number % 9]
        value["text"] = "語" * [0, 21, 22, 2730, 2731, 5000][number % 6]  # lengths around 63 and 8191 bytes
        assert _compiled(schema, value) == _fastavro(schema, value), number


@pytest.mark.parametrize("change", [
    lambda v: v.pop("reason"),                       # missing: fastavro writes the default
    lambda v: v.update(reason=("string", "late")),   # union branch named by a tuple
    lambda v: v.update(status=1),                    # not a symbol
    lambda v: v["meta"].update(event_id=b"bytes"),   # bytes for a string
    lambda v: v.update(order_id=None),               # null for a string
])
def test_values_not_in_canonical_form_are_declined(change: Any) -> None:
    schema = parse_schema(schema_for_topic("orders.status.v1"))
    value = copy.deepcopy(examples()["OrderStatusChanged"].to_avro())
    change(value)
    encode = compile_writer(schema)
    assert encode is not None
    with pytest.raises(Exception):  # noqa: B017 - any exception: the caller falls back to fastavro
        encode(value, bytearray())


def test_the_encoder_falls_back_to_fastavro_for_what_it_declines() -> None:
    encoder = AvroEncoder(FakeRegistry().client())
    value = examples()["OrderStatusChanged"].to_avro()
    value.pop("reason")  # optional with a default: fastavro writes null
    data = encoder.encode("orders.status.v1", value)
    schema = parse_schema(schema_for_topic("orders.status.v1"))
    assert data[5:] == _fastavro(schema, {**value, "reason": None})


def test_schemas_with_wider_unions_or_recursion_are_not_compiled() -> None:
    wide = {"type": "record", "name": "W", "fields": [{"name": "u", "type": ["null", "string", "long"]}]}
    tree = {"type": "record", "name": "Node", "fields": [
        {"name": "children", "type": {"type": "array", "items": "Node"}}]}
    assert compile_writer(parse_schema(wide)) is None
    assert compile_writer(parse_schema(tree)) is None
