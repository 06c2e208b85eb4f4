"""Raw bodies: media types, the size limit before and while reading, JSON with exact decimals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bus.errors import FormatError, InvalidInput, TooLarge, UnsupportedMediaType
from bus.webhooks.body import (
    MAX_JSON_DEPTH,
    json_depth,
    media_type,
    parse_form,
    parse_json_object,
    read_limited,
    require_media_type,
)


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def test_media_type_ignores_parameters_and_case() -> None:
    assert media_type("Application/JSON; charset=utf-8") == "application/json"
    assert media_type(None) == ""
    assert require_media_type("application/json;charset=UTF-8", ["application/json"]) == "application/json"
    with pytest.raises(UnsupportedMediaType, match="text/xml is not accepted"):
        require_media_type("text/xml", ["application/json"])
    with pytest.raises(UnsupportedMediaType, match=r"\(none\)"):
        require_media_type(None, ["application/json"])


def test_size_limit_by_declared_length_and_by_what_arrives() -> None:
    assert asyncio.run(read_limited(_chunks(b"ab", b"cd"), "4", 4)) == b"abcd"
    with pytest.raises(TooLarge, match="5 bytes exceeds the limit of 4"):
        asyncio.run(read_limited(_chunks(b"x"), "5", 4))
    with pytest.raises(TooLarge):  # chunked, no Content-Length
        asyncio.run(read_limited(_chunks(b"abc", b"de"), None, 4))
    with pytest.raises(InvalidInput, match="Content-Length"):
        asyncio.run(read_limited(_chunks(b""), "many", 4))


@pytest.mark.parametrize("declared", ["-5", "+3", " 3", "3 ", "٣", "1_0", ""])
def test_a_content_length_that_is_not_plain_digits_is_refused(declared: str) -> None:
    """int() accepts all of these; a negative one then slipped past the size check."""
    with pytest.raises(InvalidInput, match="Content-Length"):
        asyncio.run(read_limited(_chunks(b"abc"), declared, 4))


def test_json_fractions_are_exact_decimals_and_text_is_kept() -> None:
    parsed = parse_json_object('{"price": 24.0, "qty": 2, "name": "Zoë Müller 青葉ビル５Ｆ"}'.encode())
    assert parsed == {"price": Decimal("24.0"), "qty": 2, "name": "Zoë Müller 青葉ビル５Ｆ"}
    assert isinstance(parsed["price"], Decimal)


@pytest.mark.parametrize("body", [b"[1, 2]", b"{", b'{"a": NaN}', b"\xff\xfe", b""])
def test_anything_but_a_json_object_is_malformed(body: bytes) -> None:
    with pytest.raises(FormatError):
        parse_json_object(body)


def test_form_bodies() -> None:
    assert parse_form(b"webhook_id=12") == {"webhook_id": "12"}
    assert parse_form(b"{not a form}") == {}


def _nested(depth: int, opening: str = '{"a":', closing: str = "}") -> bytes:
    return ('{"order": ' + opening * depth + "1" + closing * depth + "}").encode()


@pytest.mark.parametrize("opening,closing", [("[", "]"), ('{"a":', "}"), ('["{x}", "]", ', "]")])
def test_json_nested_past_the_bound_is_malformed_not_a_recursion_error(opening: str, closing: str) -> None:
    for depth in (MAX_JSON_DEPTH, 1_000, 100_000):  # the body adds one level
        with pytest.raises(FormatError, match=f"nested deeper than {MAX_JSON_DEPTH} levels"):
            parse_json_object(_nested(depth, opening, closing))
    assert parse_json_object(_nested(MAX_JSON_DEPTH - 1, opening, closing))["order"] is not None


def test_brackets_inside_strings_do_not_count_towards_the_depth() -> None:
    text = '[[[{{ \\" ]]] \\\\'
    body = ('{"note": "' + text * 40 + '", "lines": [{"sku": "\\\\"}]}').encode()
    assert json_depth(body) == 3
    assert parse_json_object(body)["note"] == '[[[{{ " ]]] \\' * 40
    hidden = ('{"a": ' + '["]", ' * 70 + "1" + "]" * 70 + "}").encode()  # 71 deep, "]" hides nothing
    assert json_depth(hidden) == 71
    with pytest.raises(FormatError, match="nested deeper"):
        parse_json_object(hidden)


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a": ' * 50_000, b"]" * 10 + b"[" * 5_000,
                                  b'["' + b'[' * 5_000, b"[" * 5_000 + b"1,"])
def test_deep_and_unbalanced_bodies_are_malformed(body: bytes) -> None:
    with pytest.raises(FormatError):
        parse_json_object(body)


def test_a_bound_above_the_parsers_recursion_is_still_a_format_error() -> None:
    with pytest.raises(FormatError, match="too deep to parse"):
        parse_json_object(_nested(100_000, "[", "]"), max_depth=1_000_000)


def test_a_malformed_body_is_described_without_its_content() -> None:
    with pytest.raises(FormatError) as caught:
        parse_json_object(b'{"name": "Hanako Sato", "phone": 09012345678}')
    assert "line 1 column" in str(caught.value)
    assert "Hanako" not in str(caught.value) and "9012345678" not in str(caught.value)
    with pytest.raises(FormatError) as caught:
        parse_json_object('{"name": "佐藤"}'.encode("shift_jis"))
    assert "at byte" in str(caught.value) and "0x" not in str(caught.value), "no byte of the body"
