"""An ERP for the demo and the tests: stock files out; order and after-sale imports, cXML in.

What it does (REFERENCE.md §7):

* drops stock exports (the CSV of ``shared/fixtures/erp_stock_levels.csv``: UTF-8 with BOM) into
  the stock folder, written to a temp name and renamed so the router never reads half a file
  (:func:`drop_stock_file`; ``--drop-stock`` at start);
* imports the files the router writes (NetSuite-style CSV, External ID on every row): complete
  files in the import folder are read, their rows kept by record type (the file's prefix:
  ``erp-orders``, ``erp-credit-memos``, ``erp-return-authorizations``), and the file moved to
  ``imported/`` (:class:`OrderImports`);
* serves ``POST /cxml/orders`` (a cXML OrderRequest) and ``POST /cxml/credit-memos`` (a cXML
  InvoiceDetailRequest of purpose creditMemo), parsed with defusedxml and answered with a cXML
  Response; a repeated ``payloadID`` is acknowledged again but not imported twice (counted in
  ``duplicates`` and ``credit_memo_duplicates``).

Test controls: ``POST /_sim/fail?status=503&count=2`` (the next cXML requests answer that),
``POST /_sim/storm`` (5xx, 429 or slow answers for a while, :mod:`simulators.storm`),
``POST /_sim/reset``, ``GET /_sim/received`` (cXML orders and credit memos, every payloadID
received again, duplicates, imported rows by record type and files; ``imports.rows`` holds the
order rows).

Run it with ``python -m simulators.erp --port 8094 --stock-dir var/erp/stock
--orders-dir var/erp/orders [--drop-stock]``.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import threading
from collections import deque
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from services.router.formats.cxml import read_order_request
from services.router.formats.cxml_credit_memo import read_credit_memo
from services.router.spool import write_atomically
from simulators.storm import Storm
from simulators.storm import install as install_storms

DEFAULT_PORT = 8094
STOCK_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "erp_stock_levels.csv"


def drop_stock_file(folder: Path, content: bytes | None = None, name: str = "erp_stock_levels.csv") -> Path:
    """Write a stock export into ``folder`` atomically (temp name, then rename); its path."""
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / name, content if content is not None else STOCK_FIXTURE.read_bytes())
    return folder / name


class OrderImports:
    """Reads the import files the router writes, as the ERP's import jobs would.

    Rows are kept by record type, the file name's prefix before the batch's stream and position
    (:data:`RECORD_TYPES`); ``rows`` are the orders' (files of any other prefix count as orders).
    """

    RECORD_TYPES = ("erp-credit-memos", "erp-return-authorizations")

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.rows: list[dict[str, str]] = []
        self.by_type: dict[str, list[dict[str, str]]] = {kind: [] for kind in self.RECORD_TYPES}
        self.files: list[str] = []
        self._lock = threading.Lock()

    def poll(self) -> int:
        """Import every complete file (hidden temp files are skipped); rows imported."""
        done = self.folder / "imported"
        done.mkdir(parents=True, exist_ok=True)
        count = 0
        for path in sorted(self.folder.glob("*.csv")):
            text = path.read_bytes().decode("utf-8-sig")
            rows = list(csv.DictReader(io.StringIO(text, newline="")))
            kind = next((k for k in self.RECORD_TYPES if path.name.startswith(k + "-")), None)
            with self._lock:
                (self.rows if kind is None else self.by_type[kind]).extend(rows)
                self.files.append(path.name)
            os.replace(path, done / path.name)
            count += len(rows)
        return count

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"rows": list(self.rows), "files": list(self.files),
                    "credit_memos": list(self.by_type["erp-credit-memos"]),
                    "return_authorizations": list(self.by_type["erp-return-authorizations"])}


def _response(payload_id: str | None, code: int, text: str) -> Response:
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<cXML payloadID="{payload_id or ""}.response"><Response>'
            f'<Status code="{code}" text="{text}"/></Response></cXML>')
    return Response(body, status_code=code if code >= 400 else 200, media_type="text/xml")


def _storm_refusal(storm: Storm) -> Response:
    response = _response(None, storm.status, "simulated storm")
    if storm.status == 429:
        response.headers["Retry-After"] = str(max(1, round(storm.retry_after)))
    return response


def erp_app(imports: OrderImports | None = None) -> FastAPI:
    """The ERP's HTTP side."""
    app = FastAPI(title="ERP simulator", docs_url=None, redoc_url=None)
    orders: dict[str, dict[str, Any]] = {}
    memos: dict[str, dict[str, Any]] = {}
    state: dict[str, Any] = {"duplicates": 0, "credit_memo_duplicates": 0, "failures": deque(),
                             "redelivered": []}
    lock = threading.Lock()

    @app.post("/cxml/orders")
    async def order_request(request: Request) -> Response:
        with lock:
            if state["failures"]:
                return _response(None, state["failures"].popleft(), "simulated failure")
        try:
            order = read_order_request(await request.body())
        except ValueError as exc:
            return _response(None, 400, f"Bad Request: {exc}")
        with lock:
            if order["payload_id"] in orders:
                state["duplicates"] += 1
                state["redelivered"].append(order["payload_id"])
            else:
                orders[order["payload_id"]] = order
        return _response(order["payload_id"], 200, "OK")

    @app.post("/cxml/credit-memos")
    async def credit_memo(request: Request) -> Response:
        with lock:
            if state["failures"]:
                return _response(None, state["failures"].popleft(), "simulated failure")
        try:
            memo = read_credit_memo(await request.body())
        except ValueError as exc:
            return _response(None, 400, f"Bad Request: {exc}")
        with lock:
            if memo["payload_id"] in memos:
                state["credit_memo_duplicates"] += 1
            else:
                memos[memo["payload_id"]] = memo
        return _response(memo["payload_id"], 200, "OK")

    @app.post("/_sim/fail")
    def fail(status: int = 503, count: int = 1) -> dict[str, int]:
        with lock:
            state["failures"].extend([status] * count)
        return {"queued": count}

    @app.post("/_sim/reset")
    def reset() -> dict[str, bool]:
        with lock:
            orders.clear()
            memos.clear()
            state["duplicates"], state["credit_memo_duplicates"], state["failures"] = 0, 0, deque()
            state["redelivered"] = []
        return {"reset": True}

    @app.get("/readyz")
    def ready() -> dict[str, str]:
        """What ``ecombus ps`` and the local stack ask (the port alone says nothing of the app)."""
        return {"status": "ok"}

    @app.get("/_sim/received")
    def received() -> JSONResponse:
        if imports is not None:
            imports.poll()
        with lock:
            body = {"orders": list(orders.values()), "duplicates": state["duplicates"],
                    "redelivered": list(state["redelivered"]),
                    "credit_memos": list(memos.values()),
                    "credit_memo_duplicates": state["credit_memo_duplicates"]}
        body["imports"] = imports.snapshot() if imports is not None else {
            "rows": [], "files": [], "credit_memos": [], "return_authorizations": []}
        return JSONResponse(body)

    install_storms(app, refuse=_storm_refusal)
    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="ERP simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--stock-dir", type=Path, default=Path("var/erp/stock"))
    parser.add_argument("--orders-dir", type=Path, default=Path("var/erp/orders"))
    parser.add_argument("--drop-stock", action="store_true", help="drop the stock fixture at start")
    args = parser.parse_args()
    if args.drop_stock:
        print(f"dropped {drop_stock_file(args.stock_dir)}", flush=True)
    uvicorn.run(erp_app(OrderImports(args.orders_dir)), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
