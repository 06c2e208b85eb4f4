"""Canonical text: equal schemas compare equal whatever their formatting; different ones do not."""

from __future__ import annotations

import json

import pytest

from bus.contracts.avro_schema import InvalidSchema, canonical_text

ORDER = {"type": "record", "name": "Order", "namespace": "com.ecombus", "doc": "an order",
         "fields": [{"name": "id", "type": "string"},
                    {"name": "note", "type": ["null", "string"], "default": None}]}


def test_whitespace_and_key_order_do_not_matter() -> None:
    shuffled = {"fields": ORDER["fields"], "doc": "an order", "namespace": "com.ecombus",
                "name": "Order", "type": "record"}
    assert canonical_text(json.dumps(ORDER)) == canonical_text(json.dumps(shuffled, indent=4))


def test_full_names_and_namespace_forms_are_equal() -> None:
    assert canonical_text({"type": "record", "name": "com.ecombus.Order", "fields": []}) == canonical_text(
        {"type": "record", "name": "Order", "namespace": "com.ecombus", "fields": []})


def test_defaults_docs_and_logical_types_are_kept() -> None:
    text = canonical_text({**ORDER, "fields": [
        {"name": "total", "type": {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 4}}]})
    assert '"logicalType":"decimal"' in text and '"doc":"an order"' in text
    with_default = {**ORDER, "fields": [{"name": "n", "type": "int", "default": 1}]}
    other_default = {**ORDER, "fields": [{"name": "n", "type": "int", "default": 2}]}
    assert canonical_text(with_default) != canonical_text(other_default)


def test_canonical_text_is_readable_json_starting_with_type_and_name() -> None:
    assert canonical_text(ORDER).startswith('{"type":"record","name":"Order","namespace":"com.ecombus"')
    assert '{"name":"id","type":"string"}' in canonical_text(ORDER)
    assert canonical_text('{"type": "string"}') == '"string"'
    assert "山田" in canonical_text({**ORDER, "doc": "山田"})


@pytest.mark.parametrize("bad", ['{"type": "strin"}', "{", '{"type": "record", "name": "X"}',
                                 '{"type": "enum", "name": "E", "symbols": ["A", "A"]}'])
def test_invalid_schemas_raise_invalid_schema(bad: str) -> None:
    with pytest.raises(InvalidSchema):
        canonical_text(bad)
