"""CSV files for spreadsheets and ERPs: read drops, write rows that cannot inject formulas.

Reading (:func:`read_rows`): UTF-8 with or without a BOM, a header row, one dict per row;
a row with a different number of cells than the header is an error naming its line. Reading is
bounded: a cell longer than :data:`MAX_CELL_CHARS` characters or a header of more than
:data:`MAX_COLUMNS` columns is refused, whatever the process-wide ``csv.field_size_limit`` is.
Every reading failure is a :class:`~bus.errors.FormatError` naming the line and the limit,
never a cell's content.

Writing (:func:`render_row`, :func:`render_header`): ``\\n`` line ends by default (``\\r\\n`` on
request). Cells that a spreadsheet would run as a formula are prefixed with ``'`` (OWASP's
advice): text starting with a tab or a carriage return, and text whose first non-blank
character is ``=``, ``+``, ``@``, or ``-`` followed by something other than a number (so
`` =HYPERLINK(...)``, from a ``concat`` with an empty first part, is caught too). Numbers,
including negative ones, are left alone so quantities and amounts stay numbers. A cell is quoted
when it holds the delimiter, a quote, a line break, or any other separator a spreadsheet may split
on (``,``, ``;``, tab): a European spreadsheet opening a comma-separated file splits on ``;``.
Since such a spreadsheet may also split a quoted cell that does not start its field, a formula
start right after one of those separators inside a cell gets its ``'`` too: ``Max;=1+1`` is
written ``"Max;'=1+1"``, so no split of the line makes a cell that starts a formula. Unicode is
kept as is.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from bus.errors import FormatError

BOM = "\ufeff"
MAX_CELL_CHARS = 131_072
"""The longest cell read (Python's default ``csv.field_size_limit``), in characters."""
MAX_COLUMNS = 1_000
"""The most columns a header may have."""
_FORMULA_START = ("=", "+", "@")
_CONTROL_START = ("\t", "\r", "\n")
_SEPARATORS = frozenset(",;\t")
"""Characters a spreadsheet may split cells on, whatever delimiter the file was written with."""
_EMBEDDED_FORMULA = re.compile(r"([,;\t]\s*)([=+@]|-(?![\d.]))")
"""A formula start right after a separator inside a cell (``-`` only when no number follows)."""
_QUOTE_IF = _SEPARATORS | {'"', "\r", "\n"}


def read_rows(data: bytes, delimiter: str = ",") -> list[dict[str, str]]:
    """The rows of a CSV document as dicts keyed by the header (BOM stripped, UTF-8).

    Raises:
        FormatError: not UTF-8, no header row, a header over :data:`MAX_COLUMNS` columns, a
            cell over :data:`MAX_CELL_CHARS` characters, or a row whose cell count differs
            (the line is named, never a cell's content).
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
        raise _csv_error(exc, 1) from None
    if not any(h.strip() for h in header):
        raise FormatError("the header row is empty")
    if len(header) > MAX_COLUMNS:
        raise FormatError(f"line 1: the header has {len(header)} columns, more than the limit of "
                          f"{MAX_COLUMNS} columns")
    _check_cells(header, 1)
    rows = []
    try:
        for cells in reader:
            if not cells:
                continue
            if len(cells) != len(header):
                raise FormatError(f"line {reader.line_num}: {len(cells)} cells, the header has "
                                  f"{len(header)}")
            _check_cells(cells, reader.line_num)
            rows.append(dict(zip(header, cells, strict=True)))
    except csv.Error as exc:
        raise _csv_error(exc, reader.line_num) from None
    return rows


def _check_cells(cells: list[str], line: int) -> None:
    if max(map(len, cells), default=0) > MAX_CELL_CHARS:
        raise _too_long(line)


def _too_long(line: int) -> FormatError:
    return FormatError(f"line {line}: a cell is longer than the limit of {MAX_CELL_CHARS} characters")


def _csv_error(exc: csv.Error, line: int) -> FormatError:
    """The csv module's error as a FormatError (its messages never quote the content)."""
    if "field larger than field limit" in str(exc):
        return _too_long(line)
    return FormatError(f"line {line}: not CSV: {exc}")


def safe_cell(value: Any) -> str:
    """One cell as text, defused against formula injection (see the module's docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = str(value)
    if text.startswith(_CONTROL_START):
        return "'" + text
    if not _SEPARATORS.isdisjoint(text):
        text = _EMBEDDED_FORMULA.sub(r"\1'\2", text)
    start = text.lstrip()
    if start.startswith(_FORMULA_START) or (start.startswith("-") and not _is_number(start)):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def _quoted(cell: str, delimiter: str) -> str:
    if delimiter in cell or not _QUOTE_IF.isdisjoint(cell):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def render_row(cells: Iterable[Any], line_end: str = "\n", delimiter: str = ",") -> str:
    """One CSV line (with its line end) of safe cells, quoted where a spreadsheet could split them."""
    return delimiter.join(_quoted(safe_cell(c), delimiter) for c in cells) + line_end


def render_header(columns: Sequence[str], line_end: str = "\n", delimiter: str = ",",
                  bom: bool = False) -> str:
    """The header line, after a BOM when asked (Excel on Japanese Windows wants one)."""
    return (BOM if bom else "") + render_row(columns, line_end, delimiter)
