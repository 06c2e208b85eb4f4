"""CSV safety and BOMs, defused XML, cXML, and JSON-shaped values made Avro-ready."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bus.contracts.catalog import schema_for_topic
from bus.contracts.examples import order_placed
from bus.errors import FormatError, SerializationError
from services.router.formats import csv as csv_format
from services.router.formats import json as json_format
from services.router.formats import xml as xml_format
from services.router.formats.avro_json import AvroShaper
from services.router.formats.cxml import order_request, read_order_request


@pytest.mark.parametrize(("value", "cell"), [
    ("=1+2", "'=1+2"), ("+SUM(A1)", "'+SUM(A1)"), ("@cmd", "'@cmd"), ("\tx", "'\tx"),
    ("-A1*2", "'-A1*2"), ("-5.00", "-5.00"), (Decimal("-3"), "-3"), ("佐藤 花子", "佐藤 花子"),
    (None, ""), ("神宮前1丁目2\u22123", "神宮前1丁目2\u22123"),
])
def test_cells_cannot_inject_formulas(value: object, cell: str) -> None:
    assert csv_format.safe_cell(value) == cell


def test_rows_are_read_with_or_without_a_bom_and_a_ragged_row_is_named() -> None:
    data = "\ufeffsku,on_hand\nMATCHA-40G,120\n".encode()
    assert csv_format.read_rows(data) == [{"sku": "MATCHA-40G", "on_hand": "120"}]
    assert csv_format.read_rows(data[3:]) == csv_format.read_rows(data)
    with pytest.raises(FormatError, match="line 3"):
        csv_format.read_rows(b"a,b\n1,2\n3\n")
    assert csv_format.render_header(["a"], bom=True) == "\ufeffa\n"


def test_xml_entity_bombs_are_refused_and_records_read() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><r>&b;</r>'
    with pytest.raises(FormatError, match="unsafe"):
        xml_format.read_records(bomb)
    records = xml_format.read_records(
        b"<stock><row sku='A'><qty>1</qty></row><row sku='B'><qty>2</qty></row></stock>")
    assert records == [{"@sku": "A", "qty": "1"}, {"@sku": "B", "qty": "2"}]
    assert xml_format.render_record("row", {"@sku": "A", "qty": 1}) == '<row sku="A"><qty>1</qty></row>'


def test_a_cxml_order_request_round_trips_with_japanese_text() -> None:
    order = order_placed(line_count=2).to_avro()
    read = read_order_request(order_request(order))
    assert read["order_id"] == "SHOP-1042"
    assert read["payload_id"] == f"{order['meta']['event_id']}@ecombus"
    assert read["currency"] == "USD" and read["total"] == "65.75"
    assert read["ship_city"] == "渋谷区"
    assert [(x["sku"], x["quantity"], x["unit_price"]) for x in read["lines"]] == [
        ("MATCHA-40G", 2, "17.80"), ("HOJICHA-100G", 2, "12.50")]


def test_json_shaped_values_become_avro_values_or_name_the_field() -> None:
    shape = AvroShaper(schema_for_topic("inventory.levels.v1"))
    value = shape({"meta": {"event_id": "e", "occurred_at": "2025-06-03T09:00:00Z",
                            "source": {"platform": "erp", "system": "erp"}, "correlation_id": "c"},
                   "sku": "A", "location": "L", "on_hand": "120", "available": 116, "reserved": "4",
                   "as_of": 1748941200000})
    assert value["on_hand"] == 120 and value["meta"]["causation_id"] is None
    assert value["meta"]["occurred_at"] == datetime(2025, 6, 3, 9, tzinfo=UTC)
    with pytest.raises(SerializationError, match="field 'on_hand'"):
        shape({**value, "on_hand": "many"})
    with pytest.raises(SerializationError, match="field 'location' is required"):
        shape({k: v for k, v in value.items() if k != "location"})


@pytest.mark.parametrize(("data", "reason"), [
    (b"<r><unclosed></r>", "not well-formed XML"), (b"\xff\xfe", "not well-formed XML"),
])
def test_xml_that_cannot_be_read_is_a_format_error(data: bytes, reason: str) -> None:
    with pytest.raises(FormatError, match=reason):
        xml_format.read_records(data)


def test_json_documents_are_read_or_refused_with_the_place() -> None:
    assert json_format.read_records(b'{"sku": "A"}') == [{"sku": "A"}]
    assert json_format.read_records(b'[{"sku": "A"}, {"sku": "B"}]') == [{"sku": "A"}, {"sku": "B"}]
    assert json_format.read_document(b'\xef\xbb\xbf[1]', "utf-8-sig") == [1]
    with pytest.raises(FormatError, match="line 1 column 2"):
        json_format.read_records(b"{not json")
    with pytest.raises(FormatError, match="not UTF-8"):
        json_format.read_records(b"\xff")


def test_a_cxml_that_is_no_order_request_is_a_format_error() -> None:
    with pytest.raises(FormatError, match="OrderRequestHeader/Total missing"):
        read_order_request(b"<cXML/>")
    broken = order_request(order_placed().to_avro()).replace(b'quantity="', b'quantity="x')
    with pytest.raises(FormatError, match="quantity"):
        read_order_request(broken)


def test_csv_without_a_header_is_a_format_error() -> None:
    with pytest.raises(FormatError, match="no header row"):
        csv_format.read_rows(b"")
    with pytest.raises(FormatError, match="not UTF-8"):
        csv_format.read_rows(b"sku\n\xff\n")
