"""``file_in``: watch a folder for CSV, XML or JSON drops; each file processed exactly once.

Example (the ERP stock export)::

    from:
      file_in:
        folder: "${ERP_STOCK_DIR:-var/erp/stock}"
        pattern: "*.csv"
        format: csv                 # csv (UTF-8, BOM or not) | xml (defusedxml) | json
        settle_seconds: 1.0         # a file must be unchanged this long (writers still writing)

Each record becomes a message with headers ``file.name``, ``file.row`` (1 = first record) and
``file.sha256``. A processed file moves to ``done/``; a file that cannot be read moves to
``error/`` beside ``<name>.reason.txt`` saying why. Exactly-once processing (the router's
:mod:`~services.router.ingest`) rests on the file's content hash: the outputs of a file and a
"done" mark for its hash are written in one Kafka transaction, and the move happens after it.
Hidden files and ``*.tmp`` are ignored (writers should write a temp file and rename it).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from bus.errors import FormatError
from services.router.endpoints.base import Endpoint, EndpointConfig, register
from services.router.formats import csv as csv_format
from services.router.formats import json as json_format
from services.router.formats import xml as xml_format


@register("file_in")
class FileIn(Endpoint):
    """A folder of dropped files."""

    can_read = True

    class Config(EndpointConfig):
        folder: str
        pattern: str = "*.csv"
        format: Literal["csv", "xml", "json"] = "csv"
        delimiter: str = Field(",", min_length=1, max_length=1)
        xml_record: str | None = None
        settle_seconds: float = Field(1.0, ge=0)
        poll_seconds: float = Field(1.0, gt=0)

    @property
    def folder(self) -> Path:
        return Path(self.config.folder)

    def describe(self) -> str:
        return f"file_in:{self.config.folder}"

    def start(self) -> None:
        for sub in ("", "done", "error"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)

    def ready_files(self, now: float | None = None) -> list[Path]:
        """Files to process, oldest first: matching, visible, unchanged for ``settle_seconds``."""
        now = time.time() if now is None else now
        found = []
        for path in self.folder.glob(self.config.pattern):
            if not path.is_file() or path.name.startswith(".") or path.name.endswith(".tmp"):
                continue
            if now - path.stat().st_mtime >= self.config.settle_seconds:
                found.append(path)
        return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))

    @staticmethod
    def fingerprint(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def records(self, data: bytes) -> list[Any]:
        """The records of a file's content.

        Raises:
            FormatError: the file cannot be read as its route says; the message says why.
        """
        if self.config.format == "csv":
            return csv_format.read_rows(data, self.config.delimiter)
        if self.config.format == "xml":
            return xml_format.read_records(data, self.config.xml_record)
        document = json_format.read_document(data, "utf-8-sig")
        if isinstance(document, list):
            return document
        raise FormatError("a JSON drop must hold a list of records")

    def move(self, path: Path, outcome: Literal["done", "error"], reason: str | None = None) -> Path:
        """Move a processed file to ``done/`` or ``error/`` (with its reason), never overwriting."""
        target = self.folder / outcome / path.name
        counter = 1
        while target.exists():
            target = self.folder / outcome / f"{path.stem}.{counter}{path.suffix}"
            counter += 1
        if reason is not None:
            (target.parent / f"{target.name}.reason.txt").write_text(reason + "\n", encoding="utf-8")
        path.rename(target)
        return target
