"""The raw body of a webhook: media type, size limit, JSON with exact numbers.

The body is read as bytes exactly once, because signatures are computed over the raw bytes and
must be checked before anything is parsed. A ``Content-Length`` above the limit is refused
before reading; a body without one (chunked) is read up to the limit and refused beyond it.
JSON numbers with a fraction become :class:`~decimal.Decimal` (WooCommerce sends line prices as
numbers), so no money ever passes through a float. JSON nested deeper than
:data:`MAX_JSON_DEPTH` is refused before it is parsed, so no body can exhaust the parser's
recursion.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable
from decimal import Decimal
from itertools import accumulate
from typing import Any
from urllib.parse import parse_qsl

from bus.errors import FormatError, InvalidInput, TooLarge, UnsupportedMediaType

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
"""5 MiB: a webhook larger than this is refused with 413 before its signature is checked."""
MAX_JSON_DEPTH = 64
"""Arrays and objects nested deeper than this are refused (400): platforms nest a handful of
levels, and the parser recurses once per level."""

_ESCAPED = (b"\\\\", b'\\"')
"""An escaped backslash and an escaped quote, removed (in this order) before quotes are paired."""
_FOLD = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_QUOTED = re.compile(rb'"[^"]*(?:"|\Z)')
"""A string once only quotes and brackets are left (an unterminated one runs to the end)."""
_STEP = [0] * 256
_STEP[ord("[")], _STEP[ord("]")] = 1, -1


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
        if not (declared_length.isascii() and declared_length.isdigit()):  # int() takes "-5", "+1", " 7"
            raise InvalidInput("Content-Length is not a number of bytes", field="Content-Length")
        declared = int(declared_length)
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


def _brackets(body: bytes) -> bytes:
    """The brackets of a JSON document outside its strings, ``{}`` folded into ``[]``.

    Escaped backslashes and quotes are dropped, then everything but quotes and brackets; each
    adjacent pair of quotes is dropped next (it keeps every other quote's parity, so which bracket
    is inside a string does not change), and whatever strings are left (those holding brackets,
    rare) go by a regular expression. All of it runs in C, linear in the size of ``body``.
    """
    if b"\\" in body:
        for escaped in _ESCAPED:
            body = body.replace(escaped, b"")
    structure = body.translate(_FOLD, _NOT_STRUCTURE).replace(b'""', b"")
    return _QUOTED.sub(b"", structure) if b'"' in structure else structure


def json_depth(body: bytes) -> int:
    """How deep the arrays and objects of a JSON document nest (0 for a scalar).

    Brackets inside strings do not count. Over any prefix that a JSON parser accepts, the figure
    is the parser's own nesting, so a parser never nests deeper than this before it refuses a
    malformed document. Linear in the size of ``body``.
    """
    return max(accumulate(map(_STEP.__getitem__, _brackets(body))), default=0)


def too_deep(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON document nests deeper than ``max_depth`` (:func:`json_depth`), cheaply.

    Brackets no more than ``max_depth`` cannot nest deeper. Otherwise each pass of
    ``replace(b"[]", b"")`` removes every innermost pair, so balanced brackets ``max_depth`` deep
    are gone after ``max_depth`` passes; only when they are not (too deep, or unbalanced) is the
    depth measured bracket by bracket.
    """
    brackets = _brackets(body)
    if brackets.count(b"[") <= max_depth:
        return False
    for _ in range(max_depth):
        if not brackets:
            return False
        fewer = brackets.replace(b"[]", b"")
        if len(fewer) == len(brackets):
            break
        brackets = fewer
    return bool(brackets) and json_depth(body) > max_depth


def parse_json(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The body as any JSON value; fractions as Decimal.

    The nesting is measured before parsing (:func:`too_deep`), so a deeply nested body is refused
    as malformed and never reaches the recursive parser.

    Raises:
        FormatError: not UTF-8, nested deeper than ``max_depth``, not JSON, or NaN/Infinity. The
            message says where and why, never quoting the body.
    """
    if too_deep(body, max_depth):
        raise FormatError(f"body is JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(f"body is not UTF-8 JSON: {_reason(exc)}") from None
    except RecursionError:  # not reached within MAX_JSON_DEPTH; kept so no body can become a 500
        raise FormatError("body is JSON nested too deep to parse") from None


def parse_json_object(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """The body as a JSON object (:func:`parse_json`).

    Raises:
        FormatError: as :func:`parse_json`, or the body is not an object.
    """
    value = parse_json(body, max_depth)
    if not isinstance(value, dict):
        raise FormatError(f"body is a JSON {type(value).__name__}, expected an object")
    return value


def _reason(exc: ValueError) -> str:
    """Why parsing failed and where, without the bytes themselves."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return f"{exc.reason} at byte {exc.start}"
    return str(exc)


def parse_form(body: bytes) -> dict[str, str]:
    """A form-encoded body as a dict (last value wins); empty when it is not valid form data."""
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
    except (UnicodeDecodeError, ValueError):
        return {}
