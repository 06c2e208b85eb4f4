"""``http_in``: limits before work — size while streaming, before the signature and any parsing.

The app is driven at the ASGI level, chunk by chunk, so the tests see how much of a body the
router pulled before it answered (a test client would buffer the whole body first).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bus.runtime.codec import JsonCodec
from bus.runtime.retry import RetryPolicy
from services.router.build import BuildContext
from services.router.http_server import http_app
from services.router.ingest import InputRunner
from services.router.pipeline import RouteRunner
from services.router.routes import parse_routes

LIMIT = 1024 * 1024
CHUNK = 64 * 1024

ROUTES = f"""
routes:
  - name: stock-json
    from: {{http_in: {{path: /erp/stock, max_body_bytes: {LIMIT},
                      signature: {{header: X-Sig, secret_env: ERP_SECRET}}}}}}
    to: [{{kafka: {{topic: stock.json.v1, format: json, key: sku}}}}]
  - name: stock-xml
    from: {{http_in: {{path: /erp/stock.xml, format: xml}}}}
    to: [{{kafka: {{topic: stock.json.v1, format: json, key: sku}}}}]
  - name: stock-csv
    from: {{http_in: {{path: /erp/stock.csv, format: csv}}}}
    to: [{{kafka: {{topic: stock.json.v1, format: json, key: sku}}}}]
"""


class Producer:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, Any]] = []

    def produce(self, topic: str, value: bytes, key: Any = None, headers: Any = None,
                on_delivery: Any = None) -> None:
        self.records.append((topic, value, key))
        on_delivery(None, None)


def app(producer: Producer) -> Any:
    routes = parse_routes(ROUTES, Path("r.yaml"), BuildContext(environ={"ERP_SECRET": "s3cret"}))
    served = [(r.source, InputRunner(RouteRunner(r), JsonCodec(), RetryPolicy(max_attempts=1)))
              for r in routes.routes]
    return http_app(served, producer)  # type: ignore[arg-type]


class Upload:
    """A request body sent in chunks, as slowly as the app pulls them."""

    def __init__(self, chunks: int, chunk: bytes = b"x" * CHUNK) -> None:
        self.left, self.chunk, self.pulled = chunks, chunk, 0

    async def receive(self) -> dict[str, Any]:
        if self.left == 0:
            return {"type": "http.disconnect"}
        self.left -= 1
        self.pulled += 1
        return {"type": "http.request", "body": self.chunk, "more_body": self.left > 0}


def post(application: Any, path: str, upload: Upload, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "server": ("127.0.0.1", 8084), "client": ("127.0.0.1", 40000),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    asyncio.run(application(scope, upload.receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body)


def test_an_unsigned_chunked_upload_of_200_mib_is_refused_413_as_soon_as_it_passes_the_limit() -> None:
    producer = Producer()
    upload = Upload(chunks=200 * 1024 * 1024 // CHUNK)  # 200 MiB, no Content-Length, no signature
    status, answer = post(app(producer), "/erp/stock", upload, {"content-type": "application/json"})
    assert (status, answer["error"]) == (413, "payload_too_large")
    assert upload.pulled == LIMIT // CHUNK + 1, "reading stopped at the first chunk past the limit"
    assert producer.records == []


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    upload = Upload(chunks=20)
    status, answer = post(app(Producer()), "/erp/stock", upload, {"content-length": str(LIMIT + 1)})
    assert (status, answer["error"]) == (413, "payload_too_large")
    assert upload.pulled == 0


@pytest.mark.parametrize("length", ["12abc", "-5", "", "1e3", "0x10"])
def test_a_content_length_that_is_not_a_number_is_400(length: str) -> None:
    status, answer = post(app(Producer()), "/erp/stock", Upload(chunks=1, chunk=b"{}"),
                          {"content-length": length})
    assert (status, answer["error"]) == (400, "malformed_body")
    assert "Content-Length" in answer["message"]


def test_xml_nested_3000_deep_is_400_naming_the_limit_never_500() -> None:
    body = b"<stock>" + b"<row>" * 3000 + b"</row>" * 3000 + b"</stock>"
    producer = Producer()
    status, answer = post(app(producer), "/erp/stock.xml", Upload(chunks=1, chunk=body), {})
    assert (status, answer["error"]) == (400, "malformed_body")
    assert "deeper than 64 levels" in answer["message"]
    assert producer.records == []


def test_json_nested_3000_deep_and_a_csv_cell_over_the_limit_are_400() -> None:
    application = app(Producer())
    for path, body in (("/erp/stock.csv", b"sku\n" + b"x" * 200_000 + b"\n"),):
        status, answer = post(application, path, Upload(chunks=1, chunk=body), {})
        assert (status, answer["error"]) == (400, "malformed_body"), path


def test_a_good_request_still_flows_after_refusals() -> None:
    producer = Producer()
    application = app(producer)
    post(application, "/erp/stock.xml", Upload(chunks=1, chunk=b"<a>" * 5000), {})
    status, answer = post(application, "/erp/stock.xml",
                          Upload(chunks=1, chunk=b"<stock><row><sku>A</sku></row></stock>"), {})
    assert (status, answer) == (202, {"accepted": 1, "dead_lettered": 0})
    assert [json.loads(v)["sku"] for _, v, _ in producer.records] == ["A"]


def test_a_parser_bug_on_a_hostile_body_is_400_naming_the_exception_type_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from services.router.endpoints.http_in import HttpIn

    def broken(self: HttpIn, body: bytes) -> list[Any]:
        raise IndexError(f"an unforeseen bug about {body.decode()}")

    monkeypatch.setattr(HttpIn, "records", broken)
    status, answer = post(app(Producer()), "/erp/stock.xml", Upload(chunks=1, chunk=b"Hanako Sato"), {})
    assert (status, answer["error"]) == (400, "malformed_body")
    assert "IndexError" in answer["message"] and "Hanako" not in answer["message"]
