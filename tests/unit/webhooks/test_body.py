"""Raw bodies: media types, the size limit before and while reading, JSON with exact decimals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bus.errors import FormatError, InvalidInput, TooLarge, UnsupportedMediaType
from bus.webhooks.body import media_type, parse_form, parse_json_object, read_limited, require_media_type


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
