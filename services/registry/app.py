"""The registry's HTTP API: Confluent Schema Registry's REST routes, for Avro schemas.

Responses are ``application/vnd.schemaregistry.v1+json``; request bodies are read as JSON
whatever their content type (``application/vnd.schemaregistry.v1+json``, ``application/json``).
Errors are ``{"error_code": N, "message": "..."}`` (codes in :mod:`services.registry.errors`).
Anything under ``/associations`` answers 404, so confluent-kafka ≥ 2.14's default "associated"
subject strategy falls back to the topic strategy. Route handlers are plain functions, run in
FastAPI's thread pool, because a write blocks until Kafka acknowledged and the log was read back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus

import anyio
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException

from services.registry import errors
from services.registry.metrics import RegistryMetrics
from services.registry.routes import router
from services.registry.service import Registry
from services.registry.store import SchemaStore

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryResponse(JSONResponse):
    """JSON with the schema registry's media type."""

    media_type = MEDIA_TYPE


def _error(status: int, code: int, message: str) -> RegistryResponse:
    return RegistryResponse({"error_code": code, "message": message}, status_code=status)


def create_app(store: SchemaStore, metrics_registry: CollectorRegistry | None = None) -> FastAPI:
    """The registry application over ``store``; the lifespan starts and closes the store.

    Args:
        store: where schemas live; ``start()`` runs before the first request is served.
        metrics_registry: where the ``ecombus_registry_*`` metrics go (a fresh one by default).
    """
    metrics = RegistryMetrics(metrics_registry or CollectorRegistry(), store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(store.start)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(store.close)

    app = FastAPI(title="ecombus schema registry", default_response_class=RegistryResponse,
                  lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.registry = Registry(store)
    app.include_router(router)

    @app.exception_handler(errors.RegistryError)
    async def registry_error(_request: Request, exc: errors.RegistryError) -> Response:
        if exc.http_status >= 500:
            log.error("registry store error: %s", exc)
        return _error(exc.http_status, exc.error_code, str(exc))

    async def contract_error(_request: Request, exc: Exception) -> Response:
        answered = errors.CONTRACT_ERRORS[next(c for c in type(exc).__mro__ if c in errors.CONTRACT_ERRORS)]
        return _error(answered.http_status, answered.error_code, str(exc))

    for contract_error_type in errors.CONTRACT_ERRORS:
        app.add_exception_handler(contract_error_type, contract_error)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> Response:
        phrase = HTTPStatus(exc.status_code).phrase
        return _error(exc.status_code, exc.status_code, f"HTTP {exc.status_code} {phrase}")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _error(422, 422, f"Invalid request: {problems}")

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unexpected registry error")
        return _error(500, 50001, f"Error in the backend data store: {exc}")

    @app.middleware("http")
    async def count(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = getattr(request.scope.get("route"), "path", "unmatched")
            metrics.requests.labels(request.method, route, str(status)).inc()
            metrics.seconds.labels(request.method, route).observe(time.perf_counter() - started)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> Response:
        ok, why = store.ready()
        return RegistryResponse({"status": "ready" if ok else "not ready", "reason": why},
                                status_code=200 if ok else 503)

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app

