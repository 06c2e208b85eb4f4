"""Reading platform payload fields: timestamps in range, ids and quantities as integers, objects as
objects; refusals are InvalidInput naming the field, never the value."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from bus.errors import InvalidInput
from bus.webhooks.payload import (
    MAX_ID,
    array,
    json_type,
    mapping,
    objects,
    optional_id,
    platform_id,
    quantity,
    text,
    utc,
)


@pytest.mark.parametrize("value,expected", [
    ("2025-06-03T10:12:43+09:00", datetime(2025, 6, 3, 1, 12, 43, tzinfo=UTC)),
    ("2025-06-03T01:12:43", datetime(2025, 6, 3, 1, 12, 43, tzinfo=UTC)),
    ("Tue, 03 Jun 2025 01:12:43 +0000", datetime(2025, 6, 3, 1, 12, 43, tzinfo=UTC)),
    (1748913163, datetime(2025, 6, 3, 1, 12, 43, tzinfo=UTC)),
    ("9999-12-31T23:59:59+00:00", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ("9999-12-31T23:59:59+23:59", datetime(9999, 12, 31, 0, 0, 59, tzinfo=UTC)),
])
def test_timestamps_in_range_become_utc(value: Any, expected: datetime) -> None:
    assert utc(value, "created_at") == expected


@pytest.mark.parametrize("value", [10**20, -(10**20), 2**63, 10**15, "9999-12-31T23:59:59-23:59",
                                   "0001-01-01T00:00:00+23:59", "Fri, 31 Dec 9999 23:59:59 -2359",
                                   "Tue, 03 Jun 2025 99:12:43 +0000", "2025-13-01T00:00:00Z", "", None,
                                   True, Decimal("1748913163.5"), {"at": 1}, "Hanako Sato"], ids=repr)
def test_anything_else_is_invalid_input_naming_the_field_never_an_overflow(value: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        utc(value, "created_at")
    assert refused.value.field == "created_at" and str(refused.value).startswith("created_at ")
    assert "9999" not in str(refused.value) and "Hanako" not in str(refused.value)


def test_ids_are_positive_64_bit_integers() -> None:
    assert platform_id(6120004415, "id") == 6120004415
    assert platform_id(MAX_ID, "id") == MAX_ID
    for value in ({"id": 1}, [1], True, Decimal("1.0"), "1", MAX_ID + 1, 10**40, 0, -1):
        with pytest.raises(InvalidInput, match=rf"^id is .*expected an integer from 1 to {MAX_ID}$"):
            platform_id(value, "id")
    with pytest.raises(InvalidInput, match="id is missing"):
        platform_id(None, "id")
    assert optional_id(0, "customer_id") is None and optional_id(None, "customer_id") is None
    assert optional_id(26, "customer_id") == "26"
    with pytest.raises(InvalidInput, match="customer_id"):
        optional_id(False, "customer_id")


def test_quantities_are_positive_integers_within_an_avro_int() -> None:
    assert quantity(2, "quantity") == 2
    assert quantity(2**31 - 1, "quantity") == 2**31 - 1
    for value in (Decimal("1.5"), -3, 0, True, "2", 2**31, [2]):
        with pytest.raises(InvalidInput, match=r"^quantity is .*expected an integer from 1 to 2147483647$"):
            quantity(value, "quantity")


def test_objects_and_arrays_are_what_they_say_when_present() -> None:
    assert mapping(None, "customer") == {} and mapping("", "customer") == {}
    assert mapping("Hanako Sato") == {}, "without a field name, an absent-or-wrong object reads as empty"
    with pytest.raises(InvalidInput, match=r"^customer is a JSON string, expected an object$"):
        mapping("Hanako Sato", "customer")
    assert array(None, "line_items") == []
    with pytest.raises(InvalidInput, match=r"^line_items is a JSON integer, expected an array$"):
        array(5, "line_items")
    with pytest.raises(InvalidInput, match=r"^an element of line_items is a JSON array, expected an object$"):
        objects([{"id": 1}, ["Hanako"]], "line_items")


def test_text_names_the_field_and_the_json_type() -> None:
    assert text("佐藤", "last_name") == "佐藤" and text(7, "sku") == "7" and text("", "sku") is None
    with pytest.raises(InvalidInput, match=r"^last_name is a JSON object, expected text$"):
        text({"kanji": "佐藤"}, "last_name")
    assert [json_type(v) for v in (None, True, 1, Decimal("1.5"), "x", {}, [])] == [
        "null", "boolean", "integer", "number with a fraction", "string", "object", "array"]
