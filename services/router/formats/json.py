"""JSON documents the router reads: an http_in body or a file drop.

:func:`read_document` parses UTF-8 JSON (exact numbers stay as Python parses them: the route's
Avro shaping converts text amounts); :func:`read_records` gives the records of a body, one
object or a list of them. A document nested deeper than :data:`MAX_DEPTH` arrays and objects is
refused before it is parsed. Every failure is a :class:`~bus.errors.FormatError` saying where
(or which limit), never quoting the content.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bus.errors import FormatError

MAX_DEPTH = 64
"""The deepest nesting of arrays and objects read (``[1]`` is 1 level)."""

_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|([\[\]{}])', re.DOTALL)
"""A string (closed or running to the end: always one match, so the scan stays linear) or a
bracket (the only group, so strings come out as '')."""


def check_depth(text: str, limit: int = MAX_DEPTH) -> None:
    """Refuse JSON text whose arrays and objects nest deeper than ``limit``, without parsing it.

    Brackets inside strings do not count. Linear in the text's length; a text with at most
    ``limit`` opening brackets is accepted without a scan.

    Raises:
        FormatError: deeper than ``limit`` (the limit is named).
    """
    if text.count("[") + text.count("{") <= limit:
        return
    depth = 0
    for bracket in _TOKENS.findall(text):
        if not bracket:
            continue
        if bracket in "[{":
            depth += 1
            if depth > limit:
                raise FormatError(f"JSON nested deeper than {limit} levels")
        else:
            depth -= 1


def read_document(data: bytes, encoding: str = "utf-8") -> Any:
    """The JSON value of ``data``.

    Args:
        data: the raw document.
        encoding: ``utf-8``, or ``utf-8-sig`` to accept a leading BOM (files from Windows tools).

    Raises:
        FormatError: not text in ``encoding``, nested deeper than :data:`MAX_DEPTH`, or not
            well-formed JSON (line and column named).
    """
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise FormatError(f"not UTF-8 text (byte {exc.start}): {exc.reason}") from exc
    check_depth(text)
    try:
        return json.loads(text)
    except RecursionError:  # cannot happen past check_depth; kept as the last line of defence
        raise FormatError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise FormatError(f"not well-formed JSON: {exc}") from exc


def read_records(data: bytes) -> list[Any]:
    """The records of a UTF-8 JSON body: a list as is, any other value as a list of one.

    Raises:
        FormatError: as :func:`read_document`.
    """
    document = read_document(data)
    return document if isinstance(document, list) else [document]
