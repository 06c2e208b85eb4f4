"""Every router parser is bounded and every writer is safe for any string (issue 12).

Readers refuse what is too deep or too large with a FormatError naming the limit, never the
value; writers defuse formulas wherever a spreadsheet may start a cell and write XML that the
project's own reader accepts, whatever characters the text holds.
"""

from __future__ import annotations

import csv
import io

import pytest

from bus.contracts.examples import order_placed
from bus.errors import FormatError
from services.router.formats import csv as csv_format
from services.router.formats import json as json_format
from services.router.formats import xml as xml_format
from services.router.formats.cxml import order_request, read_order_request

SECRET = "Hanako-Sato-7-Rue-de-Rivoli"
"""A value that must never appear in an error message."""


def nested_xml(depth: int) -> bytes:
    return b"<r>" + b"<a>" * depth + SECRET.encode() + b"</a>" * depth + b"</r>"


# -- readers: bounded -----------------------------------------------------------------------------

def test_a_csv_cell_over_the_limit_is_a_format_error_naming_the_limit_not_the_value() -> None:
    data = b"sku,name\nA," + (SECRET * 8000).encode() + b"\n"  # about 200 KB in one cell
    with pytest.raises(FormatError) as refused:
        csv_format.read_rows(data)
    message = str(refused.value)
    assert f"{csv_format.MAX_CELL_CHARS} characters" in message and "line 2" in message
    assert SECRET not in message


def test_the_csv_cell_limit_holds_whatever_the_process_wide_csv_limit_is() -> None:
    previous = csv.field_size_limit()
    csv.field_size_limit(10 * csv_format.MAX_CELL_CHARS)  # another library raised it
    try:
        with pytest.raises(FormatError, match=f"{csv_format.MAX_CELL_CHARS} characters"):
            csv_format.read_rows(b"sku\n" + b"x" * (csv_format.MAX_CELL_CHARS + 1) + b"\n")
    finally:
        csv.field_size_limit(previous)
    assert csv_format.read_rows(b"sku\n" + b"x" * csv_format.MAX_CELL_CHARS + b"\n")[0]["sku"]


def test_a_csv_header_with_too_many_columns_is_refused() -> None:
    header = ",".join(f"c{i}" for i in range(csv_format.MAX_COLUMNS + 1)).encode()
    with pytest.raises(FormatError, match=f"{csv_format.MAX_COLUMNS} columns"):
        csv_format.read_rows(header + b"\n")


@pytest.mark.parametrize("depth", [xml_format.MAX_DEPTH, 3000, 100_000])
def test_xml_nested_deeper_than_the_limit_is_a_format_error(depth: int) -> None:
    with pytest.raises(FormatError) as refused:
        xml_format.read_records(nested_xml(depth))
    assert f"deeper than {xml_format.MAX_DEPTH} levels" in str(refused.value)
    assert SECRET not in str(refused.value)


def test_xml_at_the_depth_limit_is_read() -> None:
    records = xml_format.read_records(nested_xml(xml_format.MAX_DEPTH - 2))
    assert len(records) == 1


@pytest.mark.parametrize("body", [b"[" * 3000 + b"]" * 3000, b'{"a":' * 3000 + b"1" + b"}" * 3000,
                                  b"[" * 100_000])
def test_json_nested_deeper_than_the_limit_is_a_format_error(body: bytes) -> None:
    with pytest.raises(FormatError, match=f"deeper than {json_format.MAX_DEPTH} levels"):
        json_format.read_records(body)
    with pytest.raises(FormatError, match=f"deeper than {json_format.MAX_DEPTH} levels"):
        json_format.read_document(b"\xef\xbb\xbf" + body, "utf-8-sig")


def test_json_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = '{"note": "' + "[{" * 5000 + '\\" [[["}'
    assert json_format.read_records(text.encode()) == [{"note": "[{" * 5000 + '" [[['}]
    at_limit = b"[" * json_format.MAX_DEPTH + b"]" * json_format.MAX_DEPTH
    assert json_format.read_records(at_limit)


@pytest.mark.parametrize("body", [b'["' + b'\\"' * 200_000 + b"[" * 100, b'"\\' * 200_000 + b"[" * 100,
                                  b'[' * 65 + b'"' + b"a" * 1_000_000])
def test_unterminated_json_strings_are_refused_in_one_pass(body: bytes) -> None:
    with pytest.raises(FormatError):  # a quadratic scan would not end within the test's timeout
        json_format.read_records(body)


# -- writers: safe for any string -----------------------------------------------------------------

@pytest.mark.parametrize("value", [
    " =HYPERLINK(\"http://x\",\"y\")", "  +1", "\t=1+1", "\r=1+1", "\n=1+1", " @SUM(A1)", "\u00a0=1",
    " -A1", "=1",
])
def test_a_formula_after_leading_whitespace_is_defused(value: str) -> None:
    assert csv_format.safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", [" -5.00", "-3", "Max Mustermann", " 12", "a=b"])
def test_numbers_and_plain_text_are_left_alone(value: str) -> None:
    assert csv_format.safe_cell(value) == value


def _cells(line: str, delimiter: str) -> list[str]:
    return next(csv.reader(io.StringIO(line), delimiter=delimiter))


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_a_cell_holding_a_separator_is_quoted_and_no_split_of_it_starts_a_formula(delimiter: str) -> None:
    values = ["Max;=1+1", "a,=2+2", "b\t@3", "c; -A1", "d|x", "Tokyo, -5", "plain"]
    written = ["Max;'=1+1", "a,'=2+2", "b\t'@3", "c; '-A1", "d|x", "Tokyo, -5", "plain"]
    line = csv_format.render_row(values, delimiter=delimiter)
    for value in written[:4]:
        assert f'"{value}"' in line, (value, line)
    assert _cells(line, delimiter) == written
    assert csv_format.render_row(["Max;=1+1"], delimiter=";") == "\"Max;'=1+1\"\n"
    for value in values:  # a spreadsheet splitting on another separator never sees a formula start
        alone = csv_format.render_row(["id-1", value, "next"], delimiter=delimiter)
        for separator in ",;\t":
            for cell in _cells(alone, separator):
                assert not cell.lstrip().startswith(("=", "+", "@")), (separator, alone, cell)


def test_a_quote_in_a_cell_is_doubled_and_the_row_reads_back() -> None:
    values = ['say "hi"', "line\nbreak", "", None, 3]
    line = csv_format.render_row(values, delimiter=";", line_end="\r\n")
    assert line.endswith("\r\n")
    assert _cells(line, ";") == ['say "hi"', "line\nbreak", "", "", "3"]


CONTROLS = "".join(chr(c) for c in (*range(0, 9), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF)) + "\ud800"


def test_xml_records_with_control_characters_are_readable_by_our_reader() -> None:
    value = {"@note": f"a{CONTROLS}b", "name": "Sato\x0bHanako\x1b", "keep": "tab\there\nnewline"}
    text = xml_format.render_record("row", value)
    record = xml_format.read_records(f"<rows>{text}</rows>".encode())[0]
    assert record["name"] == "Sato\ufffdHanako\ufffd"
    assert record["@note"] == "a" + "\ufffd" * len(CONTROLS) + "b"
    assert record["keep"] == "tab\there\nnewline"


def test_a_cxml_order_request_with_control_characters_is_readable_by_our_reader() -> None:
    order = order_placed().to_avro()
    order["shipping_address"]["first_name"] = "Hanako\x0b"
    order["shipping_address"]["city"] = "Shibuya\x1b"
    order["lines"][0]["title"] = "Matcha\x00 40g"
    order["lines"][0]["sku"] = "MATCHA\x0c40G"
    read = read_order_request(order_request(order))
    assert read["ship_city"] == "Shibuya\ufffd"
    assert read["lines"][0]["sku"] == "MATCHA\ufffd40G"


# -- Avro shaping: the field and the type, never the value ----------------------------------------

@pytest.mark.parametrize(("patch", "field"), [
    ({"on_hand": SECRET}, "on_hand"), ({"on_hand": 10**40}, "on_hand"), ({"on_hand": 1.5}, "on_hand"),
    ({"on_hand": {"name": SECRET}}, "on_hand"), ({"on_hand": [SECRET]}, "on_hand"),
    ({"as_of": 10**20}, "as_of"), ({"as_of": "9999-12-31T23:59:59-23:59"}, "as_of"),
    ({"as_of": SECRET}, "as_of"), ({"sku": {"a": SECRET}}, "sku"), ({"meta": SECRET}, "meta"),
])
def test_a_value_that_does_not_fit_its_schema_names_the_field_not_the_value(
        patch: dict[str, object], field: str) -> None:
    from bus.contracts.catalog import schema_for_topic
    from bus.errors import SerializationError
    from services.router.formats.avro_json import AvroShaper

    shape = AvroShaper(schema_for_topic("inventory.levels.v1"))
    good = {"meta": {"event_id": "e", "occurred_at": "2025-06-03T09:00:00Z",
                     "source": {"platform": "erp", "system": "erp"}, "correlation_id": "c"},
            "sku": "A", "location": "L", "on_hand": "120", "available": 116, "reserved": "4",
            "as_of": "2025-06-03T09:00:00Z"}
    assert shape(good)["on_hand"] == 120
    with pytest.raises(SerializationError) as refused:
        shape({**good, **patch})
    assert f"field '{field}" in str(refused.value)
    assert SECRET not in str(refused.value) and "10000000000" not in str(refused.value)
