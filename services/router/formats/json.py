"""JSON documents the router reads: an http_in body or a file drop.

:func:`read_document` parses UTF-8 JSON (exact numbers stay as Python parses them: the route's
Avro shaping converts text amounts); :func:`read_records` gives the records of a body, one
object or a list of them. A document nested deeper than :data:`MAX_DEPTH` arrays and objects is
refused before it is parsed. Every failure is a :class:`~bus.errors.FormatError` saying where
(or which limit), never quoting the content.
"""

from __future__ import annotations

import json
from typing import Any

from bus.errors import FormatError
from bus.webhooks.body import MAX_JSON_DEPTH, too_deep

MAX_DEPTH = MAX_JSON_DEPTH
"""The deepest nesting of arrays and objects read (``[1]`` is 1 level): the HTTP edges' bound."""


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
    if too_deep(data, MAX_DEPTH):  # measured on the bytes, without parsing (bus.webhooks.body)
        raise FormatError(f"JSON nested deeper than {MAX_DEPTH} levels")
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
