"""JSON documents the router reads: an http_in body or a file drop.

:func:`read_document` parses UTF-8 JSON (exact numbers stay as Python parses them: the route's
Avro shaping converts text amounts); :func:`read_records` gives the records of a body, one
object or a list of them. Every failure is a :class:`~bus.errors.FormatError` saying where.
"""

from __future__ import annotations

import json
from typing import Any

from bus.errors import FormatError


def read_document(data: bytes, encoding: str = "utf-8") -> Any:
    """The JSON value of ``data``.

    Args:
        data: the raw document.
        encoding: ``utf-8``, or ``utf-8-sig`` to accept a leading BOM (files from Windows tools).

    Raises:
        FormatError: not text in ``encoding``, or not well-formed JSON (line and column named).
    """
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise FormatError(f"not UTF-8 text (byte {exc.start}): {exc.reason}") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise FormatError(f"not well-formed JSON: {exc}") from exc


def read_records(data: bytes) -> list[Any]:
    """The records of a UTF-8 JSON body: a list as is, any other value as a list of one.

    Raises:
        FormatError: as :func:`read_document`.
    """
    document = read_document(data)
    return document if isinstance(document, list) else [document]
