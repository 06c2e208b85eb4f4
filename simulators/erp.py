"""An ERP for the demo and the tests: stock files out, order imports and cXML orders in.

What it does (REFERENCE.md §7):

* drops stock exports (the CSV of ``shared/fixtures/erp_stock_levels.csv``: UTF-8 with BOM) into
  the stock folder, written to a temp name and renamed so the router never reads half a file
  (:func:`drop_stock_file`; ``--drop-stock`` at start);
* imports the order files the router writes (NetSuite-style CSV, External ID on every row):
  complete files in the orders folder are read, their rows kept, and the file moved to
  ``imported/`` (:class:`OrderImports`);
* serves ``POST /cxml/orders``: a cXML OrderRequest (parsed with defusedxml) answered with a
  cXML Response; a repeated ``payloadID`` is acknowledged again but not imported twice.

Test controls: ``POST /_sim/fail?status=503&count=2`` (the next cXML requests answer that),
``POST /_sim/storm`` (5xx, 429 or slow answers for a while, :mod:`simulators.storm`),
``POST /_sim/reset``, ``GET /_sim/received`` (cXML orders, every payloadID received again, imported
rows and files).

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
    """Reads the order import files the router writes, as the ERP's import job would."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.rows: list[dict[str, str]] = []
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
            with self._lock:
                self.rows += rows
                self.files.append(path.name)
            os.replace(path, done / path.name)
            count += len(rows)
        return count

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"rows": list(self.rows), "files": list(self.files)}


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
    state: dict[str, Any] = {"duplicates": 0, "failures": deque(), "redelivered": []}
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

    @app.post("/_sim/fail")
    def fail(status: int = 503, count: int = 1) -> dict[str, int]:
        with lock:
            state["failures"].extend([status] * count)
        return {"queued": count}

    @app.post("/_sim/reset")
    def reset() -> dict[str, bool]:
        with lock:
            orders.clear()
            state["duplicates"], state["failures"], state["redelivered"] = 0, deque(), []
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
                    "redelivered": list(state["redelivered"])}
        body["imports"] = imports.snapshot() if imports is not None else {"rows": [], "files": []}
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
