"""The .avsc files follow the contract rules of schemas/README.md and expand to valid Avro."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import fastavro
import pytest

from bus.contracts import SchemaSet, default_schema_set, read_schema_files
from bus.errors import ConfigError

SCHEMAS = default_schema_set()
EVENTS = SCHEMAS.short_events()


def _walk(schema: Any) -> Iterator[dict[str, Any]]:
    """Every dict node of a schema (named types, fields, logical types)."""
    if isinstance(schema, list):
        for item in schema:
            yield from _walk(item)
    elif isinstance(schema, dict):
        yield schema
        for value in schema.values():
            yield from _walk(value)


def test_every_architecture_event_has_a_schema() -> None:
    assert sorted(EVENTS) == sorted([
        "OrderPlaced", "OrderStatusChanged", "StockLevelChanged", "StockReservation",
        "CustomerUpserted", "ShipmentUpdated", "ProcessingRecord", "RawDelivery",
        "OrderCancelled", "OrderRefunded", "ReturnUpdated", "DisputeUpdated",
    ])


@pytest.mark.parametrize("event", EVENTS)
def test_expanded_schema_is_self_contained_avro(event: str) -> None:
    expanded = SCHEMAS.expanded(event)
    # Parsing with no named types known proves nothing is left to resolve elsewhere.
    fastavro.parse_schema(json.loads(SCHEMAS.schema_json(event)), named_schemas={})
    assert expanded["namespace"] == "ecombus.v1"
    assert expanded["fields"][0]["name"] == "meta", "every event starts with the common meta record"


@pytest.mark.parametrize("name", sorted(SCHEMAS.types))
def test_contract_rules(name: str) -> None:
    schema = SCHEMAS.types[name]
    assert schema.get("doc"), f"{name} has no doc"
    if schema["type"] == "enum":
        assert schema.get("default") in schema["symbols"], f"{name} needs a default symbol to grow"
        assert schema["default"] == "UNKNOWN"
        return
    for field in schema["fields"]:
        where = f"{name}.{field['name']}"
        assert field.get("doc"), f"{where} has no doc"
        if isinstance(field["type"], list):
            assert field["type"][0] == "null" and field.get("default", "missing") is None, \
                f"{where}: optional fields are ['null', T] with default null"
        for node in _walk(field["type"]):
            assert node.get("type") not in ("float", "double") or "amount" not in where, where
            if node.get("logicalType") == "decimal":
                assert (node["type"], node["precision"], node["scale"]) == ("bytes", 18, 4), where
        if field["name"].endswith("_at") or field["name"] == "as_of":
            logical = [n.get("logicalType") for n in _walk(field["type"])]
            assert "timestamp-millis" in logical, f"{where} is a time and must be timestamp-millis"


def test_money_is_decimal_beside_a_currency() -> None:
    money = SCHEMAS.types["ecombus.v1.Money"]
    assert [f["name"] for f in money["fields"]] == ["amount", "currency"]
    assert money["fields"][0]["type"]["logicalType"] == "decimal"


def test_meta_has_the_common_envelope() -> None:
    meta = SCHEMAS.types["ecombus.v1.Meta"]
    assert [f["name"] for f in meta["fields"]] == [
        "event_id", "occurred_at", "source", "correlation_id", "causation_id"]
    source = SCHEMAS.types["ecombus.v1.Source"]
    assert [f["name"] for f in source["fields"]] == ["platform", "system"]


def test_order_status_symbols() -> None:
    assert SCHEMAS.types["ecombus.v1.OrderStatus"]["symbols"] == [
        "PLACED", "ACCEPTED", "RESERVED", "BACKORDERED", "SHIPPED", "IN_TRANSIT", "OUT_FOR_DELIVERY",
        "DELIVERED", "DELIVERY_FAILED", "RETURNED", "CANCELLED", "UNKNOWN"]


def test_a_named_type_is_inlined_once_then_referenced() -> None:
    text = SCHEMAS.schema_json("OrderPlaced")
    assert text.count('"name":"Address"') == 1
    assert text.count('"name":"Money"') == 1
    assert '"type":["null","Address"]' in text  # billing_address refers to the inlined type


def test_expansion_keeps_docs_and_defaults() -> None:
    meta = SCHEMAS.expanded("OrderPlaced")["fields"][0]["type"]
    causation = next(f for f in meta["fields"] if f["name"] == "causation_id")
    assert causation["default"] is None and causation["doc"]


def test_unknown_reference_is_a_config_error() -> None:
    files = read_schema_files()
    broken = json.loads(files["OrderStatusChanged.avsc"])
    broken["fields"][2]["type"] = "NoSuchType"
    schemas = SchemaSet.from_files({**files, "OrderStatusChanged.avsc": json.dumps(broken)})
    with pytest.raises(ConfigError, match="NoSuchType"):
        schemas.expanded("OrderStatusChanged")


def test_a_type_defined_twice_is_a_config_error() -> None:
    files = read_schema_files()
    with pytest.raises(ConfigError, match="defined twice"):
        SchemaSet.from_files({**files, "types/Copy.avsc": files["types/Money.avsc"]})


def test_unknown_event_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="OrderPlaced"):
        SCHEMAS.expanded("OrderShipped")


def test_schemas_dir_can_be_overridden(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("ECOMBUS_SCHEMAS_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="ECOMBUS_SCHEMAS_DIR"):
        read_schema_files()
    (tmp_path / "Only.avsc").write_text('{"type": "enum", "name": "Only", "symbols": ["A"]}')
    assert list(read_schema_files()) == ["Only.avsc"]
