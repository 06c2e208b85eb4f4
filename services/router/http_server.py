"""The router's HTTP server (:8084): one POST path per ``http_in`` route.

A request is refused before any parsing when too large (413: a declared ``Content-Length`` over
``max_body_bytes`` before reading, a chunked body as soon as it passes the limit, so memory never
holds more than the limit) or badly signed (401, checked only on a body within the limit),
refused when malformed (400: a ``Content-Length`` that is not digits, or a body its format's
bounded parser refuses, e.g. XML or JSON nested deeper than 64 levels), and otherwise runs
through its route record by record; every Kafka output
and dead letter is produced and the answer (202 with counts) waits for the broker's
acknowledgement of all of them, else 503 so the sender retries. Records that fail permanently
are dead-lettered, as in every other route.

Refusals are answered from the HTTP edge's one table (:mod:`bus.webhooks.statuses`), as every
webhook endpoint does: ``{"error": "<code>", "message": "..."}`` with 413, 401, 400 or 503.

The router's wiring runs the server as a part of its assembly (:meth:`HttpServer.run`): serving
until stop, then finishing the requests in flight (their outputs are produced before the
producer is closed); a server that stops by itself stops the router.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from typing import Any

from confluent_kafka import KafkaException
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from bus.errors import BusError, FormatError, InvalidInput, TransientError
from bus.runtime.producer import BusProducer
from bus.webhooks.body import read_limited
from bus.webhooks.statuses import refusal_of, refusal_response
from services.router.endpoints.http_in import HttpIn
from services.router.ingest import InputRunner, Outcome

__all__ = ["http_app"]

log = logging.getLogger("ecombus.router.http")

_DIGITS = re.compile(r"[0-9]+")
"""A Content-Length (RFC 9110: digits only; no sign, no blanks)."""


def http_app(routes: list[tuple[HttpIn, InputRunner]], producer: BusProducer,
             confirm_timeout: float = 10.0) -> FastAPI:
    """The FastAPI app serving ``routes`` (each an http_in endpoint and its route's runner)."""
    app = FastAPI(title="ecombus router", docs_url=None, redoc_url=None)

    def add(endpoint: HttpIn, inputs: InputRunner) -> None:
        async def receive(request: Request) -> JSONResponse:
            try:
                return await accept(request)
            except BusError as exc:
                refusal = refusal_of(exc)
                if refusal is None:
                    raise
                log.info("http_in %s refused (%d): %s", endpoint.config.path, refusal.status, exc)
                return refusal_response(exc, refusal)

        async def accept(request: Request) -> JSONResponse:
            declared = request.headers.get("content-length")
            if declared is not None and not _DIGITS.fullmatch(declared):
                raise InvalidInput("Content-Length is not a number", field="Content-Length")
            body = await read_limited(request.stream(), declared, endpoint.config.max_body_bytes)
            headers = {k.lower(): v for k, v in request.headers.items()}
            if endpoint.verifier is not None:
                endpoint.verifier(body, headers)
            records = _records(endpoint, body)
            outcome = await run_in_threadpool(_process, inputs, endpoint, records, producer,
                                              confirm_timeout)
            return JSONResponse({"accepted": len(records) - outcome.dead_lettered,
                                 "dead_lettered": outcome.dead_lettered}, status_code=202)

        app.add_api_route(endpoint.config.path, receive, methods=["POST"], name=inputs.runner.route.name)

    for endpoint, inputs in routes:
        add(endpoint, inputs)
    return app


def _records(endpoint: HttpIn, body: bytes) -> list[Any]:
    """The body's records; whatever the parser raises is a FormatError (400), never a 500.

    The parsers raise FormatError for what they refuse; anything else is a parser bug on a
    hostile body, logged with its frames (not its message, which may quote the body).
    """
    try:
        return endpoint.records(body)
    except BusError:
        raise
    except Exception as exc:
        log.error("http_in %s: reading the body raised %s\n%s", endpoint.config.path,
                  type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))
        raise FormatError(f"the body cannot be read as {endpoint.config.format} "
                          f"({type(exc).__name__})") from None


def _process(inputs: InputRunner, endpoint: HttpIn, records: list[Any], producer: BusProducer,
             timeout: float) -> Outcome:
    outcome = Outcome()
    inputs.run(records, f"http:{endpoint.config.path}", None,
               lambda n: {"http.path": endpoint.config.path, "http.record": str(n)}, outcome)
    pending = [len(outcome.records)]
    failed: list[Any] = []
    done = threading.Event()

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(err)
        pending[0] -= 1
        if pending[0] <= 0:
            done.set()

    try:
        for topic, value, key, headers in outcome.records:
            producer.produce(topic, value, key=key, headers=headers, on_delivery=delivered)
    except KafkaException as exc:  # e.g. a record over the broker's size limit: the sender may retry
        raise TransientError(f"the broker did not take the records: {exc.args[0].name()}") from exc
    if outcome.records and not done.wait(timeout):
        raise TransientError(f"the broker did not acknowledge within {timeout:.0f}s")
    if failed:
        raise TransientError(f"delivery failed: {failed[0]}")
    for item in outcome.delivered:
        item.acknowledged()
    return outcome
