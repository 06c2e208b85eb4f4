"""Fuzzing the router's edges with mutated documents (Hypothesis; seeded, bounded).

* ``file_in``: a mutated CSV or XML stock file (bytes inserted, deleted, repeated, replaced;
  deep nesting, huge cells, NULs, broken UTF-8...) always ends in ``done/`` or ``error/``, and
  the good file dropped after it still flows.
* ``http_in``: a mutated body (JSON, XML or CSV), signed or not, is answered only 202, 400, 401,
  413 or 415, never a 5xx; a 202 accounts for every record it read (produced or dead-lettered).

``derandomize=True`` makes every run try the same examples (repeatable in CI); the example
counts keep the module well under 40 seconds on the 2-core development machine.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.runtime.codec import JsonCodec
from bus.runtime.retry import RetryPolicy
from services.router.build import BuildContext
from services.router.endpoints.file_in import FileIn
from services.router.http_server import http_app
from services.router.ingest import FileIngest, InputRunner
from services.router.pipeline import RouteRunner
from services.router.routes import parse_routes
from tests.unit.router.test_file_in_isolation import DoneSet, TxnProducer
from tests.unit.router.test_http_in_limits import Producer, Upload, post

FIXTURES = Path(__file__).resolve().parents[3] / "simulators" / "fixtures"
GOOD_CSV = (FIXTURES / "erp_stock_levels.csv").read_bytes()
GOOD_XML = (b"<stock>" + b"".join(
    f"<row><sku>{sku}</sku><location>{loc}</location><on_hand>{n}</on_hand></row>".encode()
    for sku, loc, n in (("MATCHA-40G", "TOKYO-1", 120), ("WHISK-BAMBOO", "LA-1", 0), ("抹茶", "東京", 7)))
    + b"</stock>")
GOOD_JSON = json.dumps([{"sku": "MATCHA-40G", "location": "TOKYO-1", "on_hand": "120"},
                        {"sku": "抹茶", "location": "東京", "on_hand": 7}], ensure_ascii=False).encode()

ROUTES = """
routes:
  - name: stock-csv
    from: {{file_in: {{folder: "{folder}/csv", pattern: "*.csv", format: csv, settle_seconds: 0}}}}
    steps:
      - map: {{fields: {{sku: "str(sku)", on_hand: "int(on_hand)", location: location}}}}
    to: [{{kafka: {{topic: stock.json.v1, format: json, key: sku}}}}]
  - name: stock-xml
    from: {{file_in: {{folder: "{folder}/xml", pattern: "*.xml", format: xml, settle_seconds: 0}}}}
    steps:
      - map: {{fields: {{sku: "str(sku)", on_hand: "int(on_hand)", location: location}}}}
    to: [{{kafka: {{topic: stock.json.v1, format: json, key: sku}}}}]
  - name: http-json
    from: {{http_in: {{path: /in/json, max_body_bytes: 65536,
                      signature: {{header: X-Sig, secret_env: FUZZ_SECRET}}}}}}
    steps:
      - map: {{fields: {{sku: "str(sku)", on_hand: "int(on_hand)"}}}}
    to: [{{kafka: {{topic: stock.json.v1, format: json, key: sku}}}}]
  - name: http-xml
    from: {{http_in: {{path: /in/xml, format: xml, max_body_bytes: 65536}}}}
    steps:
      - map: {{fields: {{sku: "str(sku)", on_hand: "int(on_hand)"}}}}
    to: [{{kafka: {{topic: stock.json.v1, format: json, key: sku}}}}]
  - name: http-csv
    from: {{http_in: {{path: /in/csv, format: csv, max_body_bytes: 65536}}}}
    steps:
      - map: {{fields: {{sku: "str(sku)", on_hand: "int(on_hand)"}}}}
    to: [{{kafka: {{topic: stock.json.v1, format: json, key: sku}}}}]
"""

SECRET = "fuzz-s3cret"

# -- mutations ------------------------------------------------------------------------------------

NASTY = [b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b'"', b"'", b",", b";", b"\n", b"\r", b"<", b">", b"&",
         b"]]>", b"<!DOCTYPE r [<!ENTITY a 'aaaa'>]>", b"&a;", b"<a>" * 3000, b"[" * 3000, b"{\"a\":" * 100,
         b"x" * 140_000, b"=HYPERLINK(\"x\")", b" -A1", b"\xc3", b"\xed\xa0\x80", b"1e999", b"9" * 5000,
         "花子".encode(), b"\\", b"\\u0000", b"NaN", b"-", b"\t"]

mutation = st.one_of(
    st.tuples(st.just("insert"), st.floats(0, 1), st.sampled_from(NASTY)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 64)),
    st.tuples(st.just("repeat"), st.floats(0, 1), st.integers(1, 40)),
    st.tuples(st.just("replace"), st.floats(0, 1), st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("truncate"), st.floats(0, 1), st.just(0)),
    st.tuples(st.just("nest"), st.floats(0, 1), st.sampled_from([(b"<a>", b"</a>"), (b"[", b"]"),
                                                                 (b'{"a":', b"}")])),
)
DEPTHS = (10, 70, 3000)


def mutate(data: bytes, steps: list[tuple[str, float, Any]]) -> bytes:
    for op, where, arg in steps:
        at = int(where * len(data))
        if op == "insert":
            data = data[:at] + arg + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + arg:]
        elif op == "repeat":
            data = data[:at] + data[at:at + 16] * arg + data[at:]
        elif op == "replace":
            data = data[:at] + arg + data[at + len(arg):]
        elif op == "nest":  # well-formed nesting around the whole document, so parsers recurse
            opening, closing = arg
            depth = DEPTHS[min(int(where * len(DEPTHS)), len(DEPTHS) - 1)]
            data = opening * depth + data + closing * depth
        else:
            data = data[:at]
    return data


mutations = st.lists(mutation, min_size=1, max_size=4)


@pytest.fixture(scope="module")
def folders() -> Iterator[Folders]:
    """Both file routes and the http_in routes over one temporary folder, for the whole module."""
    with tempfile.TemporaryDirectory(prefix="ecombus-fuzz-") as root:
        yield Folders(Path(root))

# -- file_in --------------------------------------------------------------------------------------


class Folders:
    """Both file routes over one temporary folder, for the whole test (files get unique names)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        routes = parse_routes(ROUTES.format(folder=root), Path("r.yaml"),
                              BuildContext(environ={"FUZZ_SECRET": SECRET}, state_dir=root / "state"))
        self.routes = routes
        self.ingests: dict[str, tuple[FileIngest, TxnProducer]] = {}
        for fmt in ("csv", "xml"):
            route = routes.route(f"stock-{fmt}")
            assert isinstance(route.source, FileIn)
            producer = TxnProducer()
            inputs = InputRunner(RouteRunner(route), JsonCodec(), RetryPolicy(max_attempts=1))
            ingest = FileIngest(inputs, route.source, producer, DoneSet())  # type: ignore[arg-type]
            ingest.start()
            self.ingests[fmt] = (ingest, producer)
        self.numbers = itertools.count(1)


@given(fmt=st.sampled_from(["csv", "xml"]), steps=mutations)
@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_every_mutated_file_ends_in_done_or_error_and_the_next_good_file_flows(
        folders: Folders, fmt: str, steps: list[tuple[str, float, Any]]) -> None:
    ingest, producer = folders.ingests[fmt]
    folder = folders.root / fmt
    number = next(folders.numbers)
    good = GOOD_CSV if fmt == "csv" else GOOD_XML
    mutated = folder / f"{number:05d}-mutated.{fmt}"
    mutated.write_bytes(mutate(good, steps))
    os.utime(mutated, (1_000_000 + 2 * number, 1_000_000 + 2 * number))
    after = folder / f"{number:05d}-next.{fmt}"
    after.write_bytes(good)
    os.utime(after, (1_000_000 + 2 * number + 1, 1_000_000 + 2 * number + 1))
    before = len(producer.records)
    assert ingest.poll_once() == 2
    ended = [(folder / outcome / mutated.name).exists() for outcome in ("done", "error")]
    assert ended.count(True) == 1, f"{mutated.name} ended in neither done/ nor error/"
    assert (folder / "done" / after.name).exists(), "the next good file flowed"
    skus = [json.loads(v).get("sku") for t, v, _ in producer.records[before:] if t == "stock.json.v1"]
    expected = 4 if fmt == "csv" else 3
    assert len(skus) >= expected, "the good file's records were produced"
    assert not list(folder.glob(f"*.{fmt}")), "nothing waits in the folder"


# -- http_in --------------------------------------------------------------------------------------

ANSWERS = {202, 400, 401, 413, 415}


@given(path=st.sampled_from(["/in/json", "/in/xml", "/in/csv"]), steps=mutations,
       signing=st.sampled_from(["good", "bad", "none"]), chunks=st.integers(1, 3))
@settings(max_examples=500, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_a_mutated_body_is_answered_202_400_401_413_or_415_never_5xx(
        folders: Folders, path: str, steps: list[tuple[str, float, Any]], signing: str, chunks: int) -> None:
    good = {"/in/json": GOOD_JSON, "/in/xml": GOOD_XML, "/in/csv": GOOD_CSV}[path]
    body = mutate(good, steps)
    headers = {"content-type": "application/json"}
    if signing != "none":
        key = SECRET if signing == "good" else "wrong"
        headers["x-sig"] = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()
    producer = Producer()
    served = [(r.source, InputRunner(RouteRunner(r), JsonCodec(), RetryPolicy(max_attempts=1)))
              for r in folders.routes.routes if r.source.kind == "http_in"]
    application = http_app(served, producer)  # type: ignore[arg-type]
    size = max(1, -(-len(body) // chunks))
    parts = [body[i:i + size] for i in range(0, len(body), size)] or [b""]
    upload = Upload(chunks=len(parts))
    upload.parts = iter(parts)  # type: ignore[attr-defined]

    async def receive() -> dict[str, Any]:
        upload.left -= 1
        return {"type": "http.request", "body": next(upload.parts, b""),  # type: ignore[attr-defined]
                "more_body": upload.left > 0}

    upload.receive = receive  # type: ignore[method-assign]
    status, answer = post(application, path, upload, headers)
    assert status in ANSWERS, (status, answer)
    if status == 202:
        assert len(producer.records) == answer["accepted"] + answer["dead_lettered"]
    else:
        assert producer.records == [] and answer["error"]

