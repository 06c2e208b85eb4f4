"""What a person edits for each kind of dead-lettered value, and the bytes their text becomes."""

from __future__ import annotations

import base64
import json

import pytest

from bus.contracts.examples import order_placed
from bus.errors import InvalidInput
from bus.ops.decoding import decode_value
from bus.ops.editing import editable, pretty
from bus.serde.avro import AvroDecoder, AvroEncoder
from tests.unit.serde.fake_registry import FakeRegistry


@pytest.fixture
def serde() -> tuple[AvroEncoder, AvroDecoder]:
    registry = FakeRegistry().client()
    return AvroEncoder(registry), AvroDecoder(registry, use_contracts=False)


def test_an_unchanged_avro_value_is_rebuilt_byte_for_byte(serde: tuple[AvroEncoder, AvroDecoder]) -> None:
    encoder, decoder = serde
    data = encoder.encode("orders.placed.v1", order_placed(line_count=3))
    decoded = decode_value(decoder, "orders.placed.v1", data)
    edit = editable(decoded, data, decoder.writer_schema(decoded.schema_id or 0))
    assert edit.kind == "avro" and '"amount": "17.8000"' in edit.text
    assert edit.rebuild(edit.text) == data


def test_an_avro_edit_keeps_the_schema_id_and_a_wrong_one_names_the_field(
        serde: tuple[AvroEncoder, AvroDecoder]) -> None:
    encoder, decoder = serde
    data = encoder.encode("orders.placed.v1", order_placed())
    decoded = decode_value(decoder, "orders.placed.v1", data)
    edit = editable(decoded, data, decoder.writer_schema(decoded.schema_id or 0))
    new = edit.rebuild(edit.text.replace('"currency": "USD"', '"currency": "EUR"', 1))
    assert new[:5] == data[:5] and decoder.decode("orders.placed.v1", new)["currency"] == "EUR"
    with pytest.raises(InvalidInput, match=r"^totals\.total\.shop\.amount: expected a decimal"):
        edit.rebuild(edit.text.replace('"amount": "38.6300"', '"amount": "lots"', 1))
    with pytest.raises(InvalidInput, match="not valid JSON: Expecting"):
        edit.rebuild(edit.text[:-2])


def test_json_is_edited_as_pretty_json_with_its_digits_and_must_parse() -> None:
    data = b'{"total":17.80,"name":"\xe6\x8a\xb9\xe8\x8c\xb6"}'
    edit = editable(decode_value(None, "t", data), data)
    assert edit.kind == "json" and edit.text == '{\n  "total": 17.80,\n  "name": "抹茶"\n}'
    assert edit.rebuild('{"total": 17.9}') == b'{"total": 17.9}', "what is typed is what is produced"
    with pytest.raises(InvalidInput, match="not valid JSON"):
        edit.rebuild('{"total": }')


def test_text_is_edited_as_text_and_other_bytes_as_base64() -> None:
    text = editable(decode_value(None, "t", b"SKU;QTY\nA;1"), b"SKU;QTY\nA;1")
    assert (text.kind, text.text, text.rebuild("SKU;QTY\nA;2")) == ("text", "SKU;QTY\nA;1", b"SKU;QTY\nA;2")
    raw = b"\xff\xfe\x00\x01"
    binary = editable(decode_value(None, "t", raw), raw)
    assert binary.kind == "base64" and binary.rebuild(binary.text) == raw
    assert binary.rebuild(base64.b64encode(b"\x01\x02").decode()) == b"\x01\x02"
    with pytest.raises(InvalidInput, match="not valid base64"):
        binary.rebuild("***")


def test_pretty_keeps_unicode_and_empty_containers() -> None:
    assert pretty({"a": [], "b": {}, "c": "é"}) == '{\n  "a": [],\n  "b": {},\n  "c": "é"\n}'
    assert json.loads(pretty({"x": [1, {"y": None}]})) == {"x": [1, {"y": None}]}
