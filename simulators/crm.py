"""A HubSpot-like CRM for the demo and the tests: contacts batch upsert, its limits and failures.

Routes (HubSpot CRM v3 shapes, see REFERENCE.md §6)::

    POST /crm/v3/objects/contacts/batch/upsert   {"inputs": [{"id": email, "idProperty": "email",
                                                  "properties": {name: "string", ...}}]}
         200 {"status": "COMPLETE", "results": [{"id", "properties", "new", ...}]}
         207 the same plus "errors": [{"category", "message", "context": {"ids": [email]}}] when
             some inputs are rejected (the others are written)
         400 {"category": "VALIDATION_ERROR"} for a malformed batch (over 100 inputs, idProperty
             not email, a property value that is not a string), nothing written
         429 {"errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"} over the rolling
             limit (100 requests per 10 s by default), with X-HubSpot-RateLimit-* headers
    GET  /crm/v3/objects/contacts/{email}?idProperty=email   one contact, 404 when unknown

Test controls: ``POST /_sim/reject?email=..`` (that contact is rejected in a 207;
``&whole_batch=true`` fails every batch holding it with a 400, as HubSpot does for some invalid
values), ``POST /_sim/fail?status=503&count=2`` (the next upserts answer that status),
``POST /_sim/reset``, ``GET /_sim/received`` (every upsert request received, the current
contacts, and how many requests were throttled), and ``POST /_sim/storm`` (5xx, 429 or slow
answers for a while, :mod:`simulators.storm`).

Run it with ``python -m simulators.crm --port 8086``.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from simulators.storm import Storm
from simulators.storm import install as install_storms

UPSERT_PATH = "/crm/v3/objects/contacts/batch/upsert"
MAX_INPUTS = 100
DEFAULT_PORT = 8086


class CrmState:
    """What the simulated CRM holds and was asked; safe to share between request threads."""

    def __init__(self, limit: int, interval: float, clock: Callable[[], float]) -> None:
        self.limit, self.interval, self.clock = limit, interval, clock
        self.lock = threading.Lock()
        self.contacts: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.rejected: dict[str, bool] = {}  # email -> whole batch fails
        self.failures: deque[int] = deque()
        self.calls: deque[float] = deque()
        self.throttled = 0

    def admit(self) -> int:
        """Count a request against the rolling window; the remaining allowance, or -1 if over."""
        now = self.clock()
        while self.calls and self.calls[0] <= now - self.interval:
            self.calls.popleft()
        if len(self.calls) >= self.limit:
            self.throttled += 1
            return -1
        self.calls.append(now)
        return self.limit - len(self.calls)

    def upsert(self, email: str, properties: dict[str, str]) -> dict[str, Any]:
        now = _iso(time.time())
        key = email.lower()
        contact = self.contacts.get(key)
        new = contact is None
        if contact is None:
            contact = {"id": str(100000 + len(self.contacts)), "properties": {}, "createdAt": now}
            self.contacts[key] = contact
        contact["properties"].update(properties, email=email)
        contact["updatedAt"] = now
        return {**contact, "properties": dict(contact["properties"]), "new": new, "archived": False}


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"


def _error(status: int, message: str, category: str = "VALIDATION_ERROR",
           headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()),
            "category": category, **extra}
    return JSONResponse(body, status_code=status, headers=headers)


def _invalid(body: Any) -> str | None:
    """Why a batch is malformed, or None."""
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not inputs:
        return "inputs: a non-empty array is required"
    if len(inputs) > MAX_INPUTS:
        return f"Batch size limit exceeded: {len(inputs)} inputs, at most {MAX_INPUTS}"
    for i, item in enumerate(inputs):
        if not isinstance(item, dict) or item.get("idProperty") != "email":
            return f"inputs[{i}].idProperty must be 'email'"
        if not isinstance(item.get("id"), str) or "@" not in item["id"]:
            return f"inputs[{i}].id must be an email address"
        props = item.get("properties")
        if not isinstance(props, dict):
            return f"inputs[{i}].properties must be an object"
        for name, value in props.items():
            if not isinstance(value, str):
                return f"inputs[{i}].properties.{name}: property values must be strings"
    return None


def _storm_refusal(storm: Storm) -> JSONResponse:
    if storm.status == 429:
        return _error(429, "You have reached your ten_secondly_rolling limit.", "RATE_LIMITS",
                      {"Retry-After": str(max(1, round(storm.retry_after)))}, errorType="RATE_LIMIT",
                      policyName="TEN_SECONDLY_ROLLING")
    return _error(storm.status, "Internal error (simulated storm)", "INTERNAL_ERROR")


def create_app(limit: int = 100, interval: float = 10.0,
               clock: Callable[[], float] = time.monotonic) -> FastAPI:
    """The simulator as an ASGI app (``limit`` requests per ``interval`` seconds)."""
    app = FastAPI(title="ecombus CRM simulator (HubSpot-like)")
    state = CrmState(limit, interval, clock)
    app.state.crm = state

    @app.get("/readyz")
    def ready() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(UPSERT_PATH)
    async def batch_upsert(request: Request) -> JSONResponse:
        body = await request.json()
        with state.lock:
            remaining = state.admit()
            limits = {"X-HubSpot-RateLimit-Max": str(limit),
                      "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(interval * 1000)),
                      "X-HubSpot-RateLimit-Remaining": str(max(remaining, 0))}
            if remaining < 0:
                return _error(429, "You have reached your ten_secondly_rolling limit.", "RATE_LIMITS",
                              limits, errorType="RATE_LIMIT", policyName="TEN_SECONDLY_ROLLING",
                              groupName="publicapi:private-app:ecombus")
            state.requests.append(body)
            if state.failures:
                return _error(state.failures.popleft(), "Internal error (simulated)", "INTERNAL_ERROR",
                              limits)
            reason = _invalid(body)
            if reason:
                return _error(400, reason, headers=limits)
            inputs = body["inputs"]
            blocking = [i["id"] for i in inputs if state.rejected.get(i["id"].lower())]
            if blocking:
                return _error(400, f"Property values were not valid: {blocking[0]}", headers=limits,
                              context={"ids": blocking})
            results, errors = [], []
            for item in inputs:
                if item["id"].lower() in state.rejected:
                    errors.append({"status": "error", "category": "VALIDATION_ERROR",
                                   "message": f"Property values were not valid for {item['id']}",
                                   "context": {"ids": [item["id"]]}})
                else:
                    results.append(state.upsert(item["id"], item["properties"]))
        payload: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            payload.update(numErrors=len(errors), errors=errors)
        return JSONResponse(payload, status_code=207 if errors else 200, headers=limits)

    @app.get("/crm/v3/objects/contacts/{email}")
    def read_contact(email: str, idProperty: str = "email") -> JSONResponse:
        with state.lock:
            contact = state.contacts.get(email.lower())
        if idProperty != "email" or contact is None:
            return _error(404, f"contact {email} not found", "OBJECT_NOT_FOUND")
        return JSONResponse(contact)

    @app.post("/_sim/reject")
    def reject(email: str, whole_batch: bool = False) -> dict[str, Any]:
        with state.lock:
            state.rejected[email.lower()] = whole_batch
            return {"rejected": sorted(state.rejected)}

    @app.post("/_sim/fail")
    def fail(status: int = 503, count: int = 1) -> dict[str, Any]:
        with state.lock:
            state.failures.extend([status] * count)
            return {"pending_failures": len(state.failures)}

    @app.post("/_sim/reset")
    def reset() -> dict[str, str]:
        with state.lock:
            for held in (state.contacts, state.requests, state.rejected, state.failures, state.calls):
                held.clear()
            state.throttled = 0
        return {"status": "reset"}

    install_storms(app, refuse=_storm_refusal)

    @app.get("/_sim/received")
    def received() -> dict[str, Any]:
        with state.lock:
            return {"requests": list(state.requests), "contacts": {k: dict(v) for k, v in
                                                                   state.contacts.items()},
                    "throttled": state.throttled, "rejected": sorted(state.rejected)}

    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m simulators.crm [--host H] [--port P] [--limit N] [--interval S]``."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--limit", type=int, default=100, help="requests per interval")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds")
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.limit, args.interval), host=args.host, port=args.port,
                log_level="warning")


if __name__ == "__main__":
    main()
