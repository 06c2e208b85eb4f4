"""Compatibility levels and the messages that name the offending field."""

from __future__ import annotations

import json

import pytest

from bus.contracts.avro_schema import InvalidSchema
from bus.contracts.compatibility import LEVELS, InvalidCompatibilityLevel, check_level, incompatibilities


def record(*fields: dict[str, object], name: str = "Order") -> dict[str, object]:
    return {"type": "record", "name": name, "namespace": "com.ecombus", "fields": list(fields)}


ID = {"name": "order_id", "type": "string"}
EMAIL = {"name": "email", "type": "string"}
EMAIL_DEFAULT = {"name": "email", "type": "string", "default": ""}
NOTE_OPTIONAL = {"name": "note", "type": ["null", "string"], "default": None}


def test_deleting_a_field_without_default_is_incompatible_under_full_transitive_and_named() -> None:
    problems = incompatibilities(record(ID), [record(ID, EMAIL)], "FULL_TRANSITIVE")
    assert problems
    assert all("email" in p for p in problems)


def test_adding_a_field_with_a_default_is_compatible_under_full_transitive() -> None:
    assert incompatibilities(record(ID, NOTE_OPTIONAL), [record(ID)], "FULL_TRANSITIVE") == []
    assert incompatibilities(record(ID, EMAIL_DEFAULT), [record(ID)], "FULL_TRANSITIVE") == []


def test_removing_a_field_with_a_default_is_compatible_under_full() -> None:
    assert incompatibilities(record(ID), [record(ID, NOTE_OPTIONAL)], "FULL") == []


def test_none_accepts_anything() -> None:
    assert incompatibilities({"type": "string"}, [record(ID, EMAIL)], "NONE") == []


def test_backward_allows_deleting_but_not_adding_without_default() -> None:
    assert incompatibilities(record(ID), [record(ID, EMAIL)], "BACKWARD") == []
    problems = incompatibilities(record(ID, EMAIL), [record(ID)], "BACKWARD")
    assert len(problems) == 1
    assert "'email'" in problems[0] and "no default" in problems[0]


def test_forward_allows_adding_but_not_deleting_without_default() -> None:
    assert incompatibilities(record(ID, EMAIL), [record(ID)], "FORWARD") == []
    assert incompatibilities(record(ID), [record(ID, EMAIL)], "forward")


def test_type_change_names_the_nested_path() -> None:
    old = record(ID, {"name": "customer", "type": record({"name": "age", "type": "int"}, name="Customer")})
    new = record(ID, {"name": "customer", "type": record({"name": "age", "type": "string"}, name="Customer")})
    problems = incompatibilities(new, [old], "BACKWARD")
    assert len(problems) == 1
    assert "customer.age" in problems[0] and "string" in problems[0] and "int" in problems[0]


def test_promotion_int_to_long_is_backward_but_not_forward() -> None:
    old = record({"name": "qty", "type": "int"})
    new = record({"name": "qty", "type": "long"})
    assert incompatibilities(new, [old], "BACKWARD") == []
    assert any("qty" in p for p in incompatibilities(new, [old], "FORWARD"))


def test_enum_symbol_removed_is_named() -> None:
    def status(*symbols: str) -> dict[str, object]:
        return record({"name": "status", "type": {"type": "enum", "name": "S", "symbols": list(symbols)}})

    problems = incompatibilities(status("A"), [status("A", "B")], "BACKWARD")
    assert len(problems) == 1 and "status" in problems[0] and "'B'" in problems[0]


def test_optional_nested_record_inside_union_is_explained() -> None:
    def with_address(*fields: dict[str, object]) -> dict[str, object]:
        return record({"name": "address", "type": ["null", record(*fields, name="Address")], "default": None})

    problems = incompatibilities(
        with_address({"name": "city", "type": "string"}, {"name": "zip", "type": "string"}),
        [with_address({"name": "city", "type": "string"})],
        "BACKWARD",
    )
    assert len(problems) == 1 and "address.zip" in problems[0]


def test_non_transitive_checks_only_the_latest_transitive_checks_all() -> None:
    v1 = record(ID)
    v2 = record(ID, EMAIL_DEFAULT)
    v3 = record(ID, EMAIL)  # email now without default: new readers cannot read v1 data
    assert incompatibilities(v3, [v1, v2], "BACKWARD") == []
    problems = incompatibilities(v3, [v1, v2], "BACKWARD_TRANSITIVE")
    assert len(problems) == 1 and "email" in problems[0] and "version 1" in problems[0]


def test_labels_name_the_versions_and_text_input_works() -> None:
    problems = incompatibilities(json.dumps(record(ID, EMAIL)), [json.dumps(record(ID))], "FULL",
                                 labels=["version 7"])
    assert problems and "version 7" in problems[0]


def test_recursive_schemas_do_not_loop() -> None:
    node = {"type": "record", "name": "Node", "fields": [
        {"name": "value", "type": "int"}, {"name": "next", "type": ["null", "Node"], "default": None}]}
    node2 = {"type": "record", "name": "Node", "fields": [
        {"name": "value", "type": "string"}, {"name": "next", "type": ["null", "Node"], "default": None}]}
    problems = incompatibilities(node2, [node], "BACKWARD")
    assert problems and all("value" in p for p in problems)


def test_no_previous_versions_is_compatible() -> None:
    assert incompatibilities(record(ID), [], "FULL_TRANSITIVE") == []


def test_unknown_level_and_bad_schema_raise_value_errors() -> None:
    with pytest.raises(InvalidCompatibilityLevel):
        incompatibilities(record(ID), [record(ID)], "SIDEWAYS")
    with pytest.raises(ValueError):
        incompatibilities('{"type": "strin"}', [record(ID)], "BACKWARD")
    with pytest.raises(InvalidSchema):
        incompatibilities(record({"name": "n", "type": "int", "default": "x"}), [record(ID)], "BACKWARD")


def test_levels() -> None:
    assert check_level("full_transitive") == "FULL_TRANSITIVE"
    assert len(LEVELS) == 7
