"""Compiled Avro readers give exactly what fastavro gives, or decline the pair."""

from __future__ import annotations

import copy
import io
import random
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.utils import generate_many

from bus.contracts import TOPIC_EVENTS, schema_for_topic
from bus.contracts.examples import examples, order_placed
from bus.serde.compiled import compile_reader
from services.router.schema_paths import projected_schema

EVERY_TYPE = {
    "type": "record", "name": "Everything", "namespace": "test", "fields": [
        {"name": "n", "type": "null"},
        {"name": "flag", "type": "boolean"},
        {"name": "small", "type": "int"},
        {"name": "big", "type": "long"},
        {"name": "f", "type": "float"},
        {"name": "d", "type": "double"},
        {"name": "raw", "type": "bytes"},
        {"name": "text", "type": "string"},
        {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
        {"name": "colour", "type": {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN", "BLUE"]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "counts", "type": {"type": "map", "values": "long"}},
        {"name": "maybe", "type": ["null", "string", "Hash"]},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 4}},
        {"name": "fixed_price", "type": {"type": "fixed", "name": "Price", "size": 8,
                                         "logicalType": "decimal", "precision": 16, "scale": 2}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "at_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "local_ms", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
        {"name": "clock_ms", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "clock_us", "type": {"type": "long", "logicalType": "time-micros"}},
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "child", "type": {"type": "record", "name": "Child", "fields": [
            {"name": "name", "type": "string"},
            {"name": "grid", "type": {"type": "array", "items": {"type": "array", "items": "int"}}},
        ]}},
        {"name": "children", "type": {"type": "array", "items": "Child"}},
        {"name": "by_name", "type": {"type": "map", "values": ["null", "Child"]}},
    ],
}


def _encode(schema: Any, value: Any) -> bytes:
    out = io.BytesIO()
    schemaless_writer(out, schema, value)
    return out.getvalue()


def _fastavro(data: bytes, writer: Any, reader: Any = None) -> tuple[Any, int]:
    buf = io.BytesIO(data)
    return schemaless_reader(buf, writer, reader), buf.tell()


def _everything_values(count: int) -> list[dict[str, Any]]:
    state = random.getstate()
    random.seed(count)  # generate_many draws from the global generator: same values every run
    try:
        values = list(generate_many(EVERY_TYPE, count))
    finally:
        random.setstate(state)
    rng = random.Random(7)
    for value in values:  # generate_many knows nothing of logical types: keep them in range
        value["price"] = rng.randrange(-10**11, 10**11).to_bytes(6, "big", signed=True)
        value["fixed_price"] = rng.randrange(-10**15, 10**15).to_bytes(8, "big", signed=True)
        value["day"] = rng.randrange(-1000, 30000)
        value["at_ms"] = rng.randrange(-10**12, 4 * 10**12)
        value["at_us"] = rng.randrange(-10**15, 4 * 10**15)
        value["local_ms"] = rng.randrange(0, 4 * 10**12)
        value["clock_ms"] = rng.randrange(0, 86_400_000)
        value["clock_us"] = rng.randrange(0, 86_400_000_000)
        value["id"] = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
    return values


def test_every_avro_type_reads_as_fastavro_reads_it() -> None:
    writer = parse_schema(copy.deepcopy(EVERY_TYPE))
    decode = compile_reader(writer)
    assert decode is not None
    for value in _everything_values(200):
        data = b"head" + _encode(writer, value)
        expected, _ = _fastavro(data[4:], writer)
        got, end = decode(data, 4)
        assert got == expected
        assert end == len(data)


@pytest.mark.parametrize("topic", sorted(TOPIC_EVENTS))
def test_every_contract_example_reads_as_fastavro_reads_it(topic: str) -> None:
    writer = parse_schema(schema_for_topic(topic))
    decode = compile_reader(writer)
    assert decode is not None
    event = examples()[TOPIC_EVENTS[topic]]
    data = _encode(writer, event.to_avro())
    got, end = decode(data, 0)
    assert (got, end) == _fastavro(data, writer)


def _leaf_paths(schema: Any, named: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every path of record fields down to a non-record (through optional records)."""
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):
        records = [b for b in schema if b != "null"]
        return _leaf_paths(records[0], named, prefix) if len(records) == 1 else [prefix]
    if isinstance(schema, dict) and schema.get("type") == "record":
        named.setdefault(schema.get("namespace", "ecombus") + "." + schema["name"]
                         if "." not in schema["name"] else schema["name"], schema)
        named.setdefault(schema["name"], schema)
        return [p for f in schema["fields"] for p in _leaf_paths(f["type"], named, (*prefix, f["name"]))]
    return [prefix]


@pytest.mark.parametrize("topic", sorted(TOPIC_EVENTS))
def test_projections_of_every_contract_read_as_fastavro_reads_them(topic: str) -> None:
    schema = schema_for_topic(topic)
    writer = parse_schema(copy.deepcopy(schema))
    name = TOPIC_EVENTS[topic]
    event = order_placed(line_count=3) if name == "OrderPlaced" else examples()[name]
    data = _encode(writer, event.to_avro())
    paths = _leaf_paths(copy.deepcopy(schema), {})
    rng = random.Random(topic)
    for size in (1, 2, 3, len(paths) // 2, len(paths)):
        chosen = set(rng.sample(paths, min(size, len(paths))))
        reader = parse_schema(projected_schema(schema, chosen))
        decode = compile_reader(writer, reader)
        assert decode is not None, chosen
        assert decode(data, 0) == _fastavro(data, writer, reader), chosen


def test_a_projection_still_steps_over_every_byte() -> None:
    schema = schema_for_topic("orders.placed.v1")
    writer = parse_schema(copy.deepcopy(schema))
    reader = parse_schema(projected_schema(schema, {("totals", "total", "shop", "amount"), ("order_id",)}))
    decode = compile_reader(writer, reader)
    assert decode is not None
    data = _encode(writer, order_placed(line_count=2).to_avro())
    value, end = decode(data, 0)
    assert end == len(data)  # every byte is stepped over, so trailing garbage is still noticed
    assert value == {"order_id": "shopify:hanako-tea.myshopify.com:6120004415",
                     "totals": {"total": {"shop": {"amount": _fastavro(data, writer)[0]["totals"]["total"]
                                                   ["shop"]["amount"]}}}}


def test_negative_block_counts_are_read_and_skipped() -> None:
    schema = parse_schema({"type": "record", "name": "R", "fields": [
        {"name": "skipped", "type": {"type": "array", "items": "long"}},
        {"name": "kept", "type": {"type": "array", "items": "long"}}]})
    reader = parse_schema({"type": "record", "name": "R", "fields": [
        {"name": "kept", "type": {"type": "array", "items": "long"}}]})
    # each array: one block of -2 items (zig-zag 3) with its byte size (zig-zag 2 → 4), items 1, 2
    block = bytes([3, 4, 2, 4, 0])
    decode = compile_reader(schema, reader)
    assert decode is not None
    assert decode(block + block, 0) == ({"kept": [1, 2]}, 10)
    assert decode(block + block, 0) == _fastavro(block + block, schema, reader)


@pytest.mark.parametrize("change", ["default", "promotion", "enum", "union", "rename"])
def test_pairs_needing_schema_resolution_are_left_to_fastavro(change: str) -> None:
    writer_schema = {"type": "record", "name": "R", "fields": [
        {"name": "a", "type": "int"},
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X", "Y"]}},
        {"name": "u", "type": ["null", "string"]}]}
    reader_schema = copy.deepcopy(writer_schema)
    fields = reader_schema["fields"]
    if change == "default":
        fields.append({"name": "new", "type": "string", "default": ""})
    elif change == "promotion":
        fields[0]["type"] = "long"
    elif change == "enum":
        fields[1]["type"]["symbols"] = ["X", "Y", "Z"]
    elif change == "union":
        fields[2]["type"] = ["null", "string", "long"]
    else:
        reader_schema["name"] = "S"
    assert compile_reader(parse_schema(writer_schema), parse_schema(reader_schema)) is None
    assert compile_reader(parse_schema(writer_schema), parse_schema(copy.deepcopy(writer_schema))) is not None


def test_recursive_types_are_left_to_fastavro() -> None:
    tree = {"type": "record", "name": "Node", "fields": [
        {"name": "value", "type": "int"},
        {"name": "children", "type": {"type": "array", "items": "Node"}}]}
    assert compile_reader(parse_schema(tree)) is None


def test_truncated_data_never_reads_as_a_value() -> None:
    writer = parse_schema(schema_for_topic("orders.placed.v1"))
    decode = compile_reader(writer)
    assert decode is not None
    data = _encode(writer, order_placed(line_count=2).to_avro())
    for cut in range(len(data)):
        try:
            _, end = decode(data[:cut], 0)
        except (IndexError, ValueError, UnicodeDecodeError) as exc:
            assert exc is not None  # corrupt: the caller dead-letters it
        else:
            assert end > cut  # ran past the end: the caller reports it truncated


@pytest.mark.parametrize("seed", range(10))
def test_random_bytes_fail_cleanly_or_agree_with_fastavro(seed: int) -> None:
    import struct

    writer = parse_schema(copy.deepcopy(EVERY_TYPE))
    decode = compile_reader(writer)
    assert decode is not None
    rng = random.Random(seed)
    valid = _encode(writer, _everything_values(1 + seed % 3)[seed % 3 - 1 if seed % 3 else 0])
    agreed = 0
    for _ in range(300):
        data = bytearray(valid)
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            got, end = decode(bytes(data), 0)
        except (IndexError, ValueError, UnicodeDecodeError, struct.error, OverflowError):
            continue
        if end == len(data):
            assert got == _fastavro(bytes(data), writer)[0]
            agreed += 1
    assert agreed > 0  # some flips (inside strings, numbers) still decode: those agree


def test_a_varint_beyond_64_bits_is_corrupt() -> None:
    schema = parse_schema({"type": "record", "name": "R", "fields": [{"name": "n", "type": "long"}]})
    decode = compile_reader(schema)
    assert decode is not None
    with pytest.raises(ValueError, match="64 bits"):
        decode(bytes([0xFF] * 9 + [0x7F]), 0)  # 70 bits of ones: fastavro wraps it around
    assert decode(bytes([0xFE] + [0xFF] * 8 + [0x01]), 0) == ({"n": 2**63 - 1}, 10)
