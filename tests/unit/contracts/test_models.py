"""The generated models cannot drift from the schemas, and round-trip through Avro."""

from __future__ import annotations

import dataclasses
import io
import typing
from datetime import datetime
from decimal import Decimal
from typing import Any

import fastavro
import pytest

from bus.contracts import codegen, default_schema_set, models
from bus.contracts.examples import examples, order_placed

SCHEMAS = default_schema_set()


def test_models_file_is_what_the_generator_writes() -> None:
    expected = codegen.render(SCHEMAS)
    actual = codegen.MODELS_FILE.read_text(encoding="utf-8")
    assert actual == expected, "bus/contracts/models.py is stale: run python -m bus.contracts.codegen"


def test_codegen_check_mode_reports_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert codegen.main(["--check"]) == 0


_SCALARS = {"string": str, "int": int, "long": int, "boolean": bool, "double": float, "float": float,
            "bytes": bytes}


def _expected_type(avro: Any) -> Any:
    if isinstance(avro, list):
        return _expected_type(avro[1]) | None
    if isinstance(avro, dict):
        logical = {"decimal": Decimal, "timestamp-millis": datetime}.get(avro.get("logicalType", ""))
        if logical:
            return logical
        if avro["type"] == "array":
            return list[_expected_type(avro["items"])]  # type: ignore[misc]
        if avro["type"] == "map":  # RawDelivery.headers
            return dict[str, _expected_type(avro["values"])]  # type: ignore[misc]
        return _expected_type(avro["type"])
    return _SCALARS.get(avro) or getattr(models, avro)


@pytest.mark.parametrize("name", sorted(SCHEMAS.types))
def test_every_field_type_and_symbol_matches_the_schema(name: str) -> None:
    schema = SCHEMAS.types[name]
    cls = getattr(models, schema["name"])
    if schema["type"] == "enum":
        assert [s.value for s in cls] == schema["symbols"]
        return
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    assert fields == [f["name"] for f in schema["fields"]]
    for spec in schema["fields"]:
        assert hints[spec["name"]] == _expected_type(spec["type"]), f"{name}.{spec['name']}"
    assert name == cls.AVRO_NAME


@pytest.mark.parametrize("name", sorted(models.EVENTS))
def test_every_event_round_trips_through_avro(name: str) -> None:
    event = examples()[name]
    schema = fastavro.parse_schema(SCHEMAS.expanded(name))
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, event.to_avro())
    buf.seek(0)
    decoded = fastavro.schemaless_reader(buf, schema)
    assert models.EVENTS[name].from_avro(decoded) == event


def test_japanese_text_and_exact_money_survive() -> None:
    schema = fastavro.parse_schema(SCHEMAS.expanded("OrderPlaced"))
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, order_placed(line_count=3).to_avro())
    buf.seek(0)
    back = models.OrderPlaced.from_avro(fastavro.schemaless_reader(buf, schema))
    assert back.shipping_address is not None
    assert back.shipping_address.line1 == "神宮前1丁目2\u22123"
    assert back.shipping_address.line2 == "青葉ビル５Ｆ"
    assert back.lines[0].unit_price.shop.amount == Decimal("17.80")
    assert back.lines[0].unit_price.presentment == models.Money(amount=Decimal("2650"), currency="JPY")
    assert len(back.lines) == 3


def test_unknown_enum_symbols_map_to_the_default() -> None:
    assert models.OrderStatus("ON_THE_MOON") is models.OrderStatus.UNKNOWN
    assert models.OrderStatus("DELIVERED") is models.OrderStatus.DELIVERED


def test_models_are_immutable() -> None:
    order = order_placed()
    with pytest.raises(dataclasses.FrozenInstanceError):
        order.order_id = "x"  # type: ignore[misc]
