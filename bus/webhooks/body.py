"""The raw body of a webhook: media type, size limit, JSON with exact numbers.

The body is read as bytes exactly once, because signatures are computed over the raw bytes and
must be checked before anything is parsed. A ``Content-Length`` above the limit is refused
before reading; a body without one (chunked) is read up to the limit and refused beyond it.
JSON numbers with a fraction become :class:`~decimal.Decimal` (WooCommerce sends line prices as
numbers), so no money ever passes through a float.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from bus.errors import FormatError, InvalidInput, TooLarge, UnsupportedMediaType

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
"""5 MiB: a webhook larger than this is refused with 413 before its signature is checked."""


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` → ``application/json`` ("" when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def require_media_type(content_type: str | None, accepted: Iterable[str]) -> str:
    """The request's media type, or UnsupportedMediaType when it is not accepted."""
    found = media_type(content_type)
    wanted = tuple(accepted)
    if found not in wanted:
        raise UnsupportedMediaType(f"Content-Type {found or '(none)'} is not accepted; "
                                   f"send {' or '.join(wanted)}")
    return found


async def read_limited(chunks: AsyncIterator[bytes], declared_length: str | None, limit: int) -> bytes:
    """Read a request body of at most ``limit`` bytes.

    Args:
        chunks: the body as it arrives (Starlette's ``request.stream()``).
        declared_length: the Content-Length header, if any.
        limit: the largest body accepted, in bytes.

    Raises:
        TooLarge: the declared or actual size exceeds ``limit``.
        InvalidInput: Content-Length is not a number.
    """
    if declared_length is not None:
        try:
            declared = int(declared_length)
        except ValueError:
            raise InvalidInput("Content-Length is not a number", field="Content-Length") from None
        if declared > limit:
            raise TooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body exceeds the limit of {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; fractions as Decimal.

    Raises:
        FormatError: not UTF-8, not JSON, NaN/Infinity, or not an object.
    """
    try:
        value = json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(f"body is not UTF-8 JSON: {exc}") from None
    if not isinstance(value, dict):
        raise FormatError(f"body is a JSON {type(value).__name__}, expected an object")
    return value


def parse_form(body: bytes) -> dict[str, str]:
    """A form-encoded body as a dict (last value wins); empty when it is not valid form data."""
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
    except (UnicodeDecodeError, ValueError):
        return {}
