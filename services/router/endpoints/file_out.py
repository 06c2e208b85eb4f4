"""``file_out``: write messages as rows of CSV or XML batch files, atomically, by count or window.

Example (the ERP order import)::

    to:
      - file_out:
          folder: "${ERP_ORDERS_DIR:-var/erp/orders}"
          prefix: erp-orders
          format: csv
          columns: [External ID, Customer, Email, Date, Currency, Item, Quantity, Rate]
          bom: true                          # Excel on Japanese Windows
          batch: {count: 500, window_seconds: 60}

Each message is one row (``columns`` picks and orders body fields; required for CSV). The
rows of one input (e.g. the lines of one order) are appended to a durable
:class:`~services.router.spool.Spool` together, fsynced, before the input counts as handled:
its offset is committed only after that. A batch closes once it holds ``count`` rows (at an
input boundary, so one order's rows never straddle two files) or ``window_seconds`` after its
first row; it is written to a temp file, fsynced and renamed, so readers see whole files only,
and only then is the spool emptied (the batch is a :class:`~bus.sinks.batch.Sink` with one entry
per input, weighed by its rows; what it adds is how a batch file is written).
The file name comes from the batch's first input (``<prefix>-<stream>-<position>.csv``), so a
batch re-written after a crash has the same name and replaces nothing else; inputs redelivered
after a crash are recognised by the spool and not written twice.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bus.sinks.batch import Sink
from services.router.endpoints.base import Endpoint, EndpointConfig, Outbox, register
from services.router.formats import csv as csv_format
from services.router.formats.xml import render_record
from services.router.message import Message, Origin
from services.router.spool import Entry, Spool, write_atomically


class BatchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int | None = Field(None, ge=1)
    window_seconds: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _closes(self) -> BatchConfig:
        if self.count is None and self.window_seconds is None:
            raise ValueError("give 'count', 'window_seconds' or both")
        return self


@register("file_out")
class FileOut(Endpoint):
    """Rows into batch files."""

    can_write = True

    class Config(EndpointConfig):
        folder: str
        prefix: str = Field("batch", pattern=r"^[A-Za-z0-9._-]+$")
        format: Literal["csv", "xml"] = "csv"
        columns: list[str] | None = None
        bom: bool = False
        line_end: Literal["lf", "crlf"] = "lf"
        delimiter: str = Field(",", min_length=1, max_length=1)
        xml_root: str = "records"
        xml_record: str = "record"
        batch: BatchConfig = BatchConfig(count=1000, window_seconds=60)

        @model_validator(mode="after")
        def _columns(self) -> FileOut.Config:
            if self.format == "csv" and not self.columns:
                raise ValueError("a CSV file needs 'columns' (the header, in order)")
            return self

    def __init__(self, name: str, config: Any, build: Any) -> None:
        super().__init__(name, config, build)
        self.folder = Path(config.folder)
        self.spool: Spool | None = None
        self.columns: list[str] | None = list(config.columns) if config.columns else None
        self._pending: dict[tuple[str | None, int], list[str]] = {}
        self._lock = threading.Lock()
        self._inputs = itertools.count()  # spooled inputs never coalesce: each is its own key
        self._sink: Sink[int, Entry] = Sink(
            self._write, size=config.batch.count, linger=config.batch.window_seconds,
            clock=lambda: time.monotonic(), weight=lambda entry: len(entry.value), release=self._release)

    def describe(self) -> str:
        return f"file:{self.config.prefix}"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", str(self.folder.resolve()))[-120:]
        self.spool = Spool(self.build.state_dir / "file_out" / f"{safe}.{self.config.prefix}.jsonl")
        entries = self.spool.load()
        self._sink.discard()
        if entries and self._target(entries).exists():
            self.spool.rewrite([])  # written just before a crash, spool not yet emptied
        else:
            for entry in entries:
                self._sink.add(next(self._inputs), entry)

    def _line_end(self) -> str:
        return "\r\n" if self.config.line_end == "crlf" else "\n"

    def render(self, body: Any) -> str:
        """One row (CSV line or XML record element) for a message body."""
        if self.config.format == "xml":
            return render_record(self.config.xml_record, body) + "\n"
        assert self.columns is not None
        return csv_format.render_row([body.get(c) for c in self.columns], self._line_end(),
                                     self.config.delimiter)

    def send(self, msg: Message, origin: Origin, outbox: Outbox) -> None:
        row = self.render(msg.body)
        with self._lock:
            self._pending.setdefault((origin.stream, origin.position), []).append(row)

    def finish(self, origin: Origin) -> None:
        """The input's rows are complete: spool them durably, close the batch when full."""
        with self._lock:
            rows = self._pending.pop((origin.stream, origin.position), None)
        if not rows:
            return
        if self.spool is None:
            self.start()
        assert self.spool is not None
        with self.spool.lock:
            if self.spool.add(origin, rows):
                self._sink.add(next(self._inputs), Entry(origin.stream, origin.position, rows))
            if self._sink.full():
                self.flush()

    def flush_due(self) -> None:
        if self.spool is None:
            return
        with self.spool.lock:
            if self._sink.due():
                self.flush()

    def flush(self) -> Path | None:
        """Write every spooled row as one batch file now; its path, or None if empty."""
        if self.spool is None:
            return None
        with self.spool.lock:
            written = list(self._sink.flush().values())
            return self._target(written) if written else None

    def _write(self, batch: Mapping[int, Entry]) -> None:
        entries = list(batch.values())
        write_atomically(self._target(entries), self._document([r for e in entries for r in e.value]))

    def _release(self, _batch: Mapping[int, Entry]) -> None:
        assert self.spool is not None
        self.spool.rewrite([])

    def _target(self, entries: list[Entry]) -> Path:
        first = entries[0]
        stream = re.sub(r"[^A-Za-z0-9_.-]", "_", first.stream or "input")
        return self.folder / f"{self.config.prefix}-{stream}-{first.position:012d}.{self.config.format}"

    def _document(self, rows: list[str]) -> bytes:
        if self.config.format == "xml":
            return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{self.config.xml_root}>\n'
                    + "".join(rows) + f"</{self.config.xml_root}>\n").encode("utf-8")
        header = csv_format.render_header(self.columns or [], self._line_end(), self.config.delimiter,
                                          bom=self.config.bom)
        return (header + "".join(rows)).encode("utf-8")

    def whole_body(self) -> bool:
        return True

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
