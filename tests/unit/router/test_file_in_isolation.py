"""``file_in``: a file that cannot be handled, for any reason, is set aside and never blocks the next.

FileIngest runs here with a recording transactional producer and an in-memory "done" set (the
real broker path is tests/integration/test_router.py): what matters is where each file ends,
what its reason says, and what was counted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from bus.runtime.codec import JsonCodec
from bus.runtime.retry import RetryPolicy
from services.router.build import BuildContext
from services.router.endpoints.file_in import FileIn
from services.router.ingest import FileIngest, InputRunner
from services.router.metrics import RouterMetrics
from services.router.pipeline import RouteRunner
from services.router.routes import parse_routes

ROUTES = """
routes:
  - name: stock-{format}
    from: {{file_in: {{folder: "{folder}", pattern: "*.{format}", format: {format}, settle_seconds: 0}}}}
    to: [{{kafka: {{topic: stock.json.v1, format: json, key: sku}}}}]
"""

SECRET = "Hanako Sato"


class Raw:
    """The transactional calls of a confluent-kafka Producer, recorded."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def init_transactions(self, _timeout: float) -> None:
        self.calls.append("init")

    def begin_transaction(self) -> None:
        self.calls.append("begin")

    def commit_transaction(self, _timeout: float) -> None:
        self.calls.append("commit")

    def abort_transaction(self, _timeout: float) -> None:
        self.calls.append("abort")


class TxnProducer:
    def __init__(self) -> None:
        self.raw = Raw()
        self.records: list[tuple[str, bytes, Any]] = []

    def produce(self, topic: str, value: bytes, key: Any = None, headers: Any = None) -> None:
        self.records.append((topic, value, key))


class DoneSet:
    topic = "bus.processed.router.files.v1"

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def seen(self, file_id: str) -> bool:
        return file_id in self.ids


class Files:
    def __init__(self, tmp_path: Path, fmt: str) -> None:
        self.folder = tmp_path / fmt
        routes = parse_routes(ROUTES.format(folder=self.folder, format=fmt), Path("r.yaml"),
                              BuildContext(environ={}, state_dir=tmp_path / "state"))
        route = routes.routes[0]
        self.registry = CollectorRegistry()
        metrics = RouterMetrics(self.registry)
        assert isinstance(route.source, FileIn)
        self.endpoint = route.source
        self.producer = TxnProducer()
        inputs = InputRunner(RouteRunner(route, metrics), JsonCodec(), RetryPolicy(max_attempts=1), metrics)
        self.ingest = FileIngest(inputs, self.endpoint, self.producer, DoneSet())  # type: ignore[arg-type]
        self.ingest.start()
        self.route = route.name
        self.dropped = 0

    def drop(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        self.dropped += 1
        os.utime(path, (1_000_000 + self.dropped, 1_000_000 + self.dropped))  # oldest first
        return path

    def counted(self, outcome: str) -> float:
        value = self.registry.get_sample_value("ecombus_router_files_total",
                                               {"route": self.route, "outcome": outcome})
        return value or 0.0

    def produced_skus(self) -> list[str]:
        return [json.loads(v)["sku"] for t, v, _ in self.producer.records if t == "stock.json.v1"]


DEEP_XML = b"<stock>" + b"<row>" * 3000 + SECRET.encode() + b"</row>" * 3000 + b"</stock>"
GOOD_XML = b"<stock><row><sku>MATCHA-40G</sku></row></stock>"
WIDE_CSV = b"sku,name\nA," + SECRET.encode() * 20_000 + b"\n"  # a 200 KB cell
GOOD_CSV = b"sku,name\nMATCHA-40G,Matcha\n"


@pytest.mark.parametrize(("fmt", "bad", "good", "limit"), [
    ("xml", DEEP_XML, GOOD_XML, "XML nested deeper than 64 levels"),
    ("csv", WIDE_CSV, GOOD_CSV, "a cell is longer than the limit of 131072 characters"),
])
def test_an_unreadable_file_goes_to_error_with_its_reason_and_the_next_file_flows(
        tmp_path: Path, fmt: str, bad: bytes, good: bytes, limit: str) -> None:
    files = Files(tmp_path, fmt)
    files.drop(f"a-bad.{fmt}", bad)
    files.drop(f"b-good.{fmt}", good)
    assert files.ingest.poll_once() == 2
    kept = files.folder / "error" / f"a-bad.{fmt}"
    assert kept.read_bytes() == bad, "the original bytes are kept"
    reason = (files.folder / "error" / f"a-bad.{fmt}.reason.txt").read_text(encoding="utf-8")
    assert limit in reason and SECRET not in reason
    assert (files.folder / "done" / f"b-good.{fmt}").exists()
    assert files.produced_skus() == ["MATCHA-40G"]
    assert (files.counted("unreadable"), files.counted("done")) == (1.0, 1.0)
    assert list(files.folder.glob(f"*.{fmt}")) == []


def test_any_exception_handling_a_file_moves_it_aside_and_never_blocks_the_next(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = Files(tmp_path, "xml")
    read = FileIn.records

    def records(self: FileIn, data: bytes) -> list[Any]:
        if b"boom" in data:
            raise RuntimeError(f"an unforeseen bug about {SECRET}")
        return read(self, data)

    monkeypatch.setattr(FileIn, "records", records)
    files.drop("a-boom.xml", b"<stock><row><sku>boom</sku></row></stock>")
    files.drop("b-good.xml", GOOD_XML)
    files.ingest.poll_once()
    reason = (files.folder / "error" / "a-boom.xml.reason.txt").read_text(encoding="utf-8")
    assert "RuntimeError" in reason and SECRET not in reason
    assert (files.folder / "error" / "a-boom.xml").read_bytes().startswith(b"<stock><row><sku>boom")
    assert (files.folder / "done" / "b-good.xml").exists()
    assert files.produced_skus() == ["MATCHA-40G"]
    assert (files.counted("failed"), files.counted("done")) == (1.0, 1.0)


def test_a_failure_inside_the_transaction_aborts_it_and_sets_the_file_aside(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = Files(tmp_path, "xml")
    produce = files.producer.produce

    def failing(topic: str, value: bytes, key: Any = None, headers: Any = None) -> None:
        if b"boom" in value:
            raise ValueError("not a record the producer takes")
        produce(topic, value, key, headers)

    monkeypatch.setattr(files.producer, "produce", failing)
    files.drop("a-boom.xml", b"<stock><row><sku>boom</sku></row></stock>")
    files.drop("b-good.xml", GOOD_XML)
    files.ingest.poll_once()
    assert files.producer.raw.calls == ["init", "begin", "abort", "begin", "commit"]
    assert (files.folder / "error" / "a-boom.xml").exists()
    assert (files.folder / "done" / "b-good.xml").exists()
    # the next transaction could begin: the failed one did not stay open


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool not on PATH: run `make tools` (Debian package prometheus)")
def test_the_router_series_with_files_pass_promtool(tmp_path: Path) -> None:
    files = Files(tmp_path, "csv")
    files.drop("a-bad.csv", WIDE_CSV)
    files.drop("b-good.csv", GOOD_CSV)
    files.ingest.poll_once()
    exposition = generate_latest(files.registry)
    assert b'ecombus_router_files_total{outcome="unreadable",route="stock-csv"} 1.0' in exposition
    lint = subprocess.run(["promtool", "check", "metrics"], input=exposition, capture_output=True,
                          timeout=60, check=False)
    assert (lint.returncode, (lint.stdout + lint.stderr).decode()) == (0, "")
