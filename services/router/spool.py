"""A durable, append-only spool of entries that recognises redelivered inputs.

Batching outputs (``file_out`` batches, ``aggregate``) must not lose what they hold when the
process dies, and must not hold it twice when an input is delivered again after a restart
(Kafka redelivers everything after the last committed offset). The spool is a JSON-lines file:

* line 1: ``{"high_water": {stream: position}}`` as of the last rewrite;
* then one line per input (or per message of an input, numbered by ``seq``):
  ``{"stream": ..., "position": ..., "seq": ..., "value": ...}``, appended and fsynced before the
  input counts as handled (so before its offset is committed).

:meth:`Spool.add` refuses an entry whose (position, seq) is not past the stream's high-water
mark: it was already spooled (or already written out). A torn last line (killed mid-write) is dropped at
load: its input was never acknowledged, so it is redelivered. :meth:`Spool.rewrite` replaces the
spool atomically (temp file, fsync, rename), keeping the high-water marks.

Values are JSON with exact types kept: Decimal as ``{"$decimal": "17.80"}``, datetime as
``{"$time": "<ISO 8601>"}``.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from services.router.message import Origin


@dataclass(frozen=True)
class Entry:
    """One spooled input."""

    stream: str | None
    position: int
    value: Any
    seq: int = 0


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime):
        return {"$time": value.isoformat()}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and "$decimal" in value:
            return Decimal(value["$decimal"])
        if len(value) == 1 and "$time" in value:
            return datetime.fromisoformat(value["$time"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``path`` so readers see all of it or none: temp file, fsync, rename, fsync dir."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class Spool:
    """Entries of one batching component, on disk. Thread-safe.

    Args:
        path: the spool file (its folder is created).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.high_water: dict[str, list[int]] = {}
        self.entries: list[Entry] = []
        self._lock = threading.RLock()
        self._file: Any = None

    @property
    def lock(self) -> threading.RLock:
        """Held by callers that read and rewrite the entries as one step."""
        return self._lock

    def load(self) -> list[Entry]:
        """Read the spool (dropping a torn last line) and open it for appending."""
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.entries, self.high_water = [], {}
            if self.path.exists():
                raw = self.path.read_bytes()
                complete = raw[: raw.rfind(b"\n") + 1]
                lines = complete.decode("utf-8").splitlines()
                if lines:
                    self.high_water = dict(json.loads(lines[0]).get("high_water", {}))
                for line in lines[1:]:
                    item = json.loads(line)
                    self._remember(Entry(item["stream"], item["position"], _decode(item["value"]),
                                         item.get("seq", 0)))
                if len(complete) != len(raw) or not lines:
                    self._rewrite_locked(self.entries)
            else:
                self._rewrite_locked([])
            self._file = open(self.path, "ab")  # noqa: SIM115 (kept open for appends)
            return list(self.entries)

    def _remember(self, entry: Entry) -> None:
        self.entries.append(entry)
        if entry.stream is not None:
            mark = [entry.position, entry.seq]
            self.high_water[entry.stream] = max(self.high_water.get(entry.stream, [-1, 0]), mark)

    def seen(self, origin: Origin, seq: int = 0) -> bool:
        """True when this input (message ``seq`` of it) was spooled or written out before."""
        with self._lock:
            if origin.stream is None:
                return False
            return [origin.position, seq] <= self.high_water.get(origin.stream, [-1, 0])

    def add(self, origin: Origin, value: Any, seq: int = 0) -> bool:
        """Append a value durably; False (nothing written) if it was spooled before."""
        with self._lock:
            if self.seen(origin, seq):
                return False
            entry = Entry(origin.stream, origin.position, value, seq)
            line = json.dumps({"stream": entry.stream, "position": entry.position, "seq": seq,
                               "value": _encode(value)}, ensure_ascii=False, separators=(",", ":"))
            self._file.write(line.encode("utf-8") + b"\n")
            self._file.flush()
            os.fsync(self._file.fileno())
            self._remember(entry)
            return True

    def rewrite(self, keep: list[Entry]) -> None:
        """Atomically replace the entries with ``keep`` (high-water marks are kept)."""
        with self._lock:
            self._rewrite_locked(keep)

    def _rewrite_locked(self, keep: list[Entry]) -> None:
        lines = [json.dumps({"high_water": self.high_water}, separators=(",", ":"))]
        lines += [json.dumps({"stream": e.stream, "position": e.position, "seq": e.seq,
                              "value": _encode(e.value)}, ensure_ascii=False, separators=(",", ":"))
                  for e in keep]
        if self._file is not None:
            self._file.close()
        write_atomically(self.path, ("\n".join(lines) + "\n").encode("utf-8"))
        self.entries = list(keep)
        self._file = open(self.path, "ab") if self._file is not None else None  # noqa: SIM115

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
