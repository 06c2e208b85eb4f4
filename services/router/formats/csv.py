"""CSV files for spreadsheets and ERPs: read drops, write rows that cannot inject formulas.

Reading (:func:`read_rows`): UTF-8 with or without a BOM, a header row, one dict per row;
a row with a different number of cells than the header is an error naming its line. Every
reading failure is a :class:`~bus.errors.FormatError`.

Writing (:func:`render_row`, :func:`render_header`): Python's csv quoting (minimal), ``\\n``
line ends by default (``\\r\\n`` on request), and cells that a spreadsheet would run as a formula
(text starting with ``=``, ``+``, ``@``, a tab or a carriage return, or ``-`` followed by
something other than a number) are prefixed with ``'`` (OWASP's advice). Numbers, including
negative ones, are left alone so quantities and amounts stay numbers. Unicode is kept as is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from bus.errors import FormatError

BOM = "\ufeff"
_FORMULA_START = ("=", "+", "@", "\t", "\r")


def read_rows(data: bytes, delimiter: str = ",") -> list[dict[str, str]]:
    """The rows of a CSV document as dicts keyed by the header (BOM stripped, UTF-8).

    Raises:
        FormatError: not UTF-8, no header row, or a row whose cell count differs (line named).
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(f"not UTF-8 text (byte {exc.start}): {exc.reason}") from exc
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise FormatError("empty file: no header row") from None
    except csv.Error as exc:
        raise FormatError(f"line 1: not CSV: {exc}") from exc
    if not any(h.strip() for h in header):
        raise FormatError("the header row is empty")
    rows = []
    try:
        for cells in reader:
            if not cells:
                continue
            if len(cells) != len(header):
                raise FormatError(f"line {reader.line_num}: {len(cells)} cells, the header has "
                                  f"{len(header)}")
            rows.append(dict(zip(header, cells, strict=True)))
    except csv.Error as exc:
        raise FormatError(f"line {reader.line_num}: not CSV: {exc}") from exc
    return rows


def safe_cell(value: Any) -> str:
    """One cell as text, defused against formula injection."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = str(value)
    if text.startswith(_FORMULA_START) or (text.startswith("-") and not _is_number(text)):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def render_row(cells: Iterable[Any], line_end: str = "\n", delimiter: str = ",") -> str:
    """One CSV line (with its line end) of safe cells."""
    out = io.StringIO()
    csv.writer(out, lineterminator=line_end, delimiter=delimiter).writerow(
        [safe_cell(c) for c in cells])
    return out.getvalue()


def render_header(columns: Sequence[str], line_end: str = "\n", delimiter: str = ",",
                  bom: bool = False) -> str:
    """The header line, after a BOM when asked (Excel on Japanese Windows wants one)."""
    return (BOM if bom else "") + render_row(columns, line_end, delimiter)
