"""Batch files: durable spool, redeliveries skipped, atomic deterministic files, crash windows."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from services.router.build import BuildContext
from services.router.endpoints.file_out import FileOut
from services.router.message import Message, Origin
from services.router.spool import Spool


def _endpoint(tmp_path: Path, **batch: float) -> FileOut:
    config = FileOut.Config.model_validate({
        "folder": str(tmp_path / "out"), "prefix": "erp", "columns": ["id", "qty"], "bom": True,
        "batch": batch or {"count": 3}})
    endpoint = FileOut("file_out", config, BuildContext(state_dir=tmp_path / "state"))
    endpoint.start()
    return endpoint


def _send(endpoint: FileOut, offset: int, rows: list[tuple[str, int]]) -> None:
    origin = Origin("orders/0", offset)
    for ident, qty in rows:
        endpoint.send(Message({"id": ident, "qty": qty}), origin, None)  # type: ignore[arg-type]
    endpoint.finish(origin)


def test_a_batch_closes_at_an_input_boundary_and_is_written_whole(tmp_path: Path) -> None:
    out = _endpoint(tmp_path)
    _send(out, 10, [("A", 1), ("A", 2)])
    assert list((tmp_path / "out").iterdir()) == []
    _send(out, 11, [("B", 1), ("B", 2)])
    files = sorted((tmp_path / "out").iterdir())
    assert [f.name for f in files] == ["erp-orders_0-000000000010.csv"]
    assert files[0].read_bytes() == "\ufeffid,qty\nA,1\nA,2\nB,1\nB,2\n".encode()


def test_redelivered_inputs_are_not_written_twice_after_a_restart(tmp_path: Path) -> None:
    out = _endpoint(tmp_path, count=100)
    _send(out, 10, [("A", 1)])
    _send(out, 11, [("B", 1)])
    out.close()
    again = _endpoint(tmp_path, count=100)  # a restart: the loop redelivers 10 and 11, then 12
    for offset, ident in ((10, "A"), (11, "B"), (12, "C")):
        _send(again, offset, [(ident, 1)])
    path = again.flush()
    assert path is not None and path.read_text(encoding="utf-8-sig") == "id,qty\nA,1\nB,1\nC,1\n"
    _send(again, 11, [("B", 1)])  # still recognised after the spool was emptied
    assert again.flush() is None


def test_a_crash_between_rename_and_spool_reset_writes_nothing_twice(tmp_path: Path) -> None:
    out = _endpoint(tmp_path, count=100)
    _send(out, 10, [("A", 1)])
    assert out.spool is not None
    entries = list(out.spool.entries)
    written = out.flush()
    assert written is not None
    out.spool.rewrite(entries)  # as if killed right after the rename
    out.close()
    again = _endpoint(tmp_path, count=100)
    assert again.spool is not None and again.spool.entries == []
    assert [p.name for p in (tmp_path / "out").iterdir()] == [written.name]


def test_the_window_closes_a_batch(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    now = [1000.0]
    monkeypatch.setattr("services.router.endpoints.file_out.time.monotonic", lambda: now[0])
    out = _endpoint(tmp_path, window_seconds=5)
    _send(out, 1, [("A", 1)])
    out.flush_due()
    assert not any((tmp_path / "out").iterdir())
    now[0] += 5
    out.flush_due()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["erp-orders_0-000000000001.csv"]


def test_the_spool_drops_a_torn_last_line_and_keeps_exact_types(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.jsonl")
    spool.load()
    assert spool.add(Origin("t/0", 1), {"amount": Decimal("17.80")})
    assert not spool.add(Origin("t/0", 1), {"amount": Decimal("1")})
    spool.close()
    with open(tmp_path / "s.jsonl", "ab") as torn:
        torn.write(b'{"stream":"t/0","position":2,"seq":0,"val')
    again = Spool(tmp_path / "s.jsonl")
    entries = again.load()
    assert [(e.position, e.value) for e in entries] == [(1, {"amount": Decimal("17.80")})]
    assert again.add(Origin("t/0", 2), {"amount": Decimal("2")})
