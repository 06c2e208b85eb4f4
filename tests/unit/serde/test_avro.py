"""Avro encoder/decoder: round trips, schema resolution, and how failures are classified."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from bus.contracts import default_schema_set, schema_for_topic
from bus.contracts.examples import examples, order_placed
from bus.contracts.models import OrderPlaced, OrderStatusChanged
from bus.errors import SerializationError, TransientError
from bus.serde import AvroCodec, AvroDecoder, AvroEncoder, UnknownSchemaIdError
from bus.serde.wire import header
from tests.unit.serde.fake_registry import FakeRegistry

TOPIC = "orders.placed.v1"


@pytest.fixture
def fake() -> FakeRegistry:
    return FakeRegistry()


def test_round_trip_keeps_japanese_text_and_exact_decimals(fake: FakeRegistry) -> None:
    codec = AvroCodec(fake.client())
    order = order_placed(line_count=3)
    data = codec.encode(TOPIC, order)
    assert data[:5] == header(1)
    decoded = codec.decode(TOPIC, data)
    assert decoded["shipping_address"]["line1"] == "神宮前1丁目2\u22123"
    assert decoded["lines"][0]["unit_price"]["shop"]["amount"] == Decimal("17.80")
    assert OrderPlaced.from_avro(decoded) == order


@pytest.mark.parametrize("name", sorted(examples()))
def test_every_contract_topic_round_trips(fake: FakeRegistry, name: str) -> None:
    from bus.contracts import TOPIC_EVENTS

    codec = AvroCodec(fake.client())
    topic = next(t for t, e in TOPIC_EVENTS.items() if e == name)
    event = examples()[name]
    assert type(event).from_avro(codec.decode(topic, codec.encode(topic, event))) == event


def test_schema_is_registered_once_per_topic_under_topic_name_strategy(fake: FakeRegistry) -> None:
    encoder = AvroEncoder(fake.client())
    for _ in range(3):
        encoder.encode(TOPIC, order_placed())
    encoder.encode("orders.review.v1", order_placed())
    assert [r.url.path for r in fake.requests] == [
        "/subjects/orders.placed.v1-value/versions", "/subjects/orders.review.v1-value/versions"]
    assert encoder.schema_id(TOPIC) == encoder.schema_id("orders.review.v1") == 1  # same schema, same id


def test_writer_schemas_are_fetched_once_per_id(fake: FakeRegistry) -> None:
    data = AvroEncoder(fake.client()).encode(TOPIC, order_placed())
    decoder = AvroDecoder(fake.client())
    before = len(fake.requests)
    for _ in range(5):
        decoder.decode(TOPIC, data)
    assert len(fake.requests) == before + 1


def _evolved_status_schema() -> dict[str, Any]:
    """OrderStatusChanged v2: a new optional field and a new enum symbol (FULL compatible)."""
    schema = copy.deepcopy(schema_for_topic("orders.status.v1"))
    schema["fields"].append({"name": "note", "type": ["null", "string"], "default": None, "doc": "new"})
    status = next(f for f in schema["fields"] if f["name"] == "status")["type"]
    status["symbols"].insert(0, "ON_HOLD")
    return schema


def test_an_old_consumer_reads_data_from_a_newer_writer(fake: FakeRegistry) -> None:
    writer = AvroEncoder(fake.client(), {"orders.status.v1": _evolved_status_schema()})
    event = examples()["OrderStatusChanged"].to_avro()
    data = writer.encode("orders.status.v1", {**event, "status": "ON_HOLD", "note": "waiting"})
    decoded = AvroDecoder(fake.client()).decode("orders.status.v1", data)  # reads with v1 contract
    assert "note" not in decoded
    assert decoded["status"] == "UNKNOWN"
    assert OrderStatusChanged.from_avro(decoded).order_id == event["order_id"]


def test_a_new_consumer_reads_old_data_with_defaults(fake: FakeRegistry) -> None:
    data = AvroEncoder(fake.client()).encode("orders.status.v1", examples()["OrderStatusChanged"])
    decoder = AvroDecoder(fake.client(), {"orders.status.v1": _evolved_status_schema()})
    assert decoder.decode("orders.status.v1", data)["note"] is None


def test_without_a_reader_schema_values_decode_as_written(fake: FakeRegistry) -> None:
    schema = _evolved_status_schema()
    data = AvroEncoder(fake.client(), {"orders.status.v1": schema}).encode(
        "orders.status.v1", {**examples()["OrderStatusChanged"].to_avro(), "note": "n"})
    assert AvroDecoder(fake.client(), use_contracts=False).decode("orders.status.v1", data)["note"] == "n"


def test_value_not_matching_the_schema_names_the_problem(fake: FakeRegistry) -> None:
    bad = order_placed().to_avro()
    bad["lines"][0]["quantity"] = "two"
    with pytest.raises(SerializationError, match=r"orders\.placed\.v1: value does not match schema"):
        AvroEncoder(fake.client()).encode(TOPIC, bad)


@pytest.mark.parametrize("field,value,path", [
    ("quantity", "Hanako Sato", "lines.quantity"),
    ("title", b"\xff 1-2-3 Jingumae Shibuya", "lines.title"),
])
def test_a_value_not_matching_the_schema_is_named_by_its_field_never_quoted(
        fake: FakeRegistry, field: str, value: object, path: str) -> None:
    bad = order_placed().to_avro()
    bad["lines"][0][field] = value
    with pytest.raises(SerializationError) as refused:
        AvroEncoder(fake.client()).encode(TOPIC, bad)
    assert f"at field {path}" in str(refused.value)
    assert "Hanako" not in str(refused.value) and "Jingumae" not in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__, "no quoting cause"


def test_too_many_decimal_places_is_a_serialization_error(fake: FakeRegistry) -> None:
    bad = order_placed().to_avro()
    bad["totals"]["total"]["shop"]["amount"] = Decimal("1.00001")
    with pytest.raises(SerializationError):
        AvroEncoder(fake.client()).encode(TOPIC, bad)


def test_not_registered_without_auto_register(fake: FakeRegistry) -> None:
    with pytest.raises(SerializationError, match="not registered"):
        AvroEncoder(fake.client(), auto_register=False).encode(TOPIC, order_placed())


@pytest.fixture
def framed(fake: FakeRegistry) -> bytes:
    return AvroEncoder(fake.client()).encode(TOPIC, order_placed())


def test_bad_magic_byte(fake: FakeRegistry, framed: bytes) -> None:
    with pytest.raises(SerializationError, match="bad magic byte 1"):
        AvroDecoder(fake.client()).decode(TOPIC, b"\x01" + framed[1:])


def test_short_payload(fake: FakeRegistry) -> None:
    with pytest.raises(SerializationError, match="too short"):
        AvroDecoder(fake.client()).decode(TOPIC, header(1))


def test_unknown_schema_id(fake: FakeRegistry, framed: bytes) -> None:
    with pytest.raises(UnknownSchemaIdError, match="schema id 77 is unknown"):
        AvroDecoder(fake.client()).decode(TOPIC, header(77) + framed[5:])


def test_truncated_payload(fake: FakeRegistry, framed: bytes) -> None:
    with pytest.raises(SerializationError, match="corrupt or truncated"):
        AvroDecoder(fake.client()).decode(TOPIC, framed[:-20])


def test_trailing_garbage_is_corrupt(fake: FakeRegistry, framed: bytes) -> None:
    with pytest.raises(SerializationError, match="bytes left after the value"):
        AvroDecoder(fake.client()).decode(TOPIC, framed + b"\x00\x00")


def test_corrupt_payload(fake: FakeRegistry, framed: bytes) -> None:
    corrupt = framed[:5] + b"\xff" * (len(framed) - 5)
    with pytest.raises(SerializationError):
        AvroDecoder(fake.client()).decode(TOPIC, corrupt)


def test_reader_that_cannot_resolve_the_writer_is_permanent(fake: FakeRegistry, framed: bytes) -> None:
    reader = copy.deepcopy(schema_for_topic(TOPIC))
    reader["fields"].append({"name": "must_have", "type": "string", "doc": "no default"})
    with pytest.raises(SerializationError):
        AvroDecoder(fake.client(), {TOPIC: reader}).decode(TOPIC, framed)


def test_registry_down_is_transient_for_encode_and_decode(fake: FakeRegistry, framed: bytes) -> None:
    fake.fail_with = 503
    with pytest.raises(TransientError):
        AvroEncoder(fake.client()).encode(TOPIC, order_placed())
    with pytest.raises(TransientError):
        AvroDecoder(fake.client()).decode(TOPIC, framed)


def test_expanded_contract_text_is_what_gets_registered(fake: FakeRegistry) -> None:
    AvroEncoder(fake.client()).encode(TOPIC, order_placed())
    assert fake.schemas == [default_schema_set().schema_json("OrderPlaced")]
