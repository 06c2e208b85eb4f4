"""The storefront simulator as an ASGI app: :func:`create_app` (run it in-process or as a process).

A middleware in front of the APIs (not of ``/_sim``) injects the requested faults (latency, an
error status), applies Shopify's leaky-bucket limit to ``/admin/api`` (429 with ``Retry-After``
over it, ``X-Shopify-Shop-Api-Call-Limit`` on every answer), checks the access token when one is
configured, and records every request by its route for ``GET /_sim/received``. Outside it,
:mod:`simulators.storm` refuses or delays them during a storm (``POST /_sim/storm``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from simulators.storefront.admin_api import admin_router
from simulators.storefront.aftersale_controls import aftersale_router
from simulators.storefront.config import StorefrontConfig
from simulators.storefront.controls import controls_router
from simulators.storefront.ratelimit import LeakyBucket
from simulators.storefront.state import StoreState
from simulators.storefront.webhooks import WebhookSender
from simulators.storm import install as install_storms

THROTTLED = ("Exceeded 2 calls per second for api client. Reduce request rates to resume "
             "uninterrupted service.")


def create_app(config: StorefrontConfig | None = None, state: StoreState | None = None,
               bucket: LeakyBucket | None = None, webhook_client: httpx.AsyncClient | None = None) -> FastAPI:
    """A fresh simulated store (its state is on ``app.state.store``).

    Args:
        config: what it pretends to be and where webhooks go.
        state / bucket: injectable for tests (fresh ones by default).
        webhook_client: sends the webhooks (a new client per delivery by default).
    """
    config = config or StorefrontConfig()
    state = state or StoreState()
    bucket = bucket or LeakyBucket(config.bucket_capacity, config.leak_per_second)
    app = FastAPI(title="ecombus storefront simulator", docs_url=None, redoc_url=None)
    app.state.store, app.state.config, app.state.bucket = state, config, bucket
    app.include_router(admin_router(state))
    sender = WebhookSender(config, state, webhook_client)  # one, so /_sim/redeliver sends any of them
    app.include_router(controls_router(state, sender, bucket))
    app.include_router(aftersale_router(state, sender))

    @app.get("/readyz")
    def ready() -> dict[str, str]:
        return {"status": "ok"}

    @app.middleware("http")
    async def gate(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if path.startswith("/_sim") or path == "/readyz":
            return await call_next(request)
        response = await _answer(request, call_next, path, config, state, bucket)
        route = request.scope.get("route")
        state.record_request(request.method, getattr(route, "path", path), response.status_code)
        return response

    install_storms(app)  # POST /_sim/storm: the APIs answer 5xx, 429 or slowly for a while
    return app


async def _answer(request: Request, call_next: Callable[[Request], Awaitable[Response]], path: str,
                  config: StorefrontConfig, state: StoreState, bucket: LeakyBucket) -> Response:
    fault = state.take_fault(path)
    if fault is not None and fault.latency_seconds:
        await asyncio.sleep(fault.latency_seconds)
    if config.api_token and config.api_token not in (request.headers.get("X-Shopify-Access-Token"),
                                                     request.headers.get("X-Auth-Token")):
        return JSONResponse({"errors": "[API] Invalid API key or access token"}, status_code=401)
    limited = path.startswith("/admin/api/")
    decision = bucket.take() if limited else None
    if decision is not None and not decision.allowed:
        return JSONResponse({"errors": THROTTLED}, status_code=429, headers={
            "Retry-After": str(max(1, math.ceil(decision.retry_after))),
            "X-Shopify-Shop-Api-Call-Limit": decision.header})
    if fault is not None and fault.status:
        response: Response = JSONResponse({"errors": f"injected failure {fault.status}"},
                                          status_code=fault.status)
    else:
        response = await call_next(request)
    if decision is not None:
        response.headers["X-Shopify-Shop-Api-Call-Limit"] = decision.header
    return response
