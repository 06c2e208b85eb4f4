"""Downstream storms: a simulator that answers errors, throttles or answers slowly for a while.

The storefront, CRM and ERP simulators share this control so the chaos runner (and any test)
can make the outside world misbehave for a bounded time, the way real platforms do during an
incident::

    POST /_sim/storm {"mode": "5xx", "seconds": 10, "status": 503}
    POST /_sim/storm {"mode": "429", "seconds": 10, "retry_after": 1}
    POST /_sim/storm {"mode": "slow", "seconds": 10, "latency_seconds": 3}
    GET  /_sim/storm   the storm now (or null), answers counted by outcome, when the API last
                       answered 2xx (epoch seconds) and every storm forecast so far

During a storm every request to the simulator's API (not ``/_sim/...``, not ``/readyz``) is
refused with the status (``5xx``), refused with 429 and ``Retry-After`` (``429``), or answered
normally after ``latency_seconds`` (``slow``). A new storm replaces the one in progress; a storm
ends by itself (``seconds`` at most :data:`MAX_STORM_SECONDS`), so a runner that dies mid-storm
never leaves a simulator broken.

:func:`install` adds the middleware and the two routes to a simulator's FastAPI app; the
simulator may give the body of its refusals (HubSpot's JSON, cXML...).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse

Mode = Literal["5xx", "429", "slow"]
MODES: tuple[Mode, ...] = ("5xx", "429", "slow")
MAX_STORM_SECONDS = 600.0
EXEMPT_PREFIXES = ("/_sim", "/readyz")
"""Paths a storm never touches: the simulator's own controls and its readiness."""


@dataclass(frozen=True)
class Storm:
    """One storm: how the API misbehaves, and until when (the simulator's monotonic clock)."""

    mode: Mode
    seconds: float
    status: int = 503
    latency_seconds: float = 2.0
    retry_after: float = 1.0
    started_at: float = 0.0
    """Wall-clock start (epoch seconds), for people and reports."""


Refusal = Callable[[Storm], Response]
"""What a simulator answers when a storm refuses a request (``storm.status`` is 5xx or 429)."""


def json_refusal(storm: Storm) -> Response:
    """A generic JSON refusal with ``Retry-After`` on a 429."""
    headers = {"Retry-After": str(max(1, round(storm.retry_after)))} if storm.status == 429 else None
    return JSONResponse({"errors": f"simulated storm: {storm.mode}"}, status_code=storm.status,
                        headers=headers)


class Weather:
    """The storms of one simulator and the answers its API gave; safe to share between threads.

    Args:
        clock: monotonic seconds (when a storm ends).
        wall: epoch seconds (what reports show).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self._clock, self._wall = clock, wall
        self._lock = threading.Lock()
        self._storm: Storm | None = None
        self._until = 0.0
        self._answers: Counter[str] = Counter()
        self._last_ok_at: float | None = None
        self._history: list[Storm] = []

    def forecast(self, mode: Mode, seconds: float, *, status: int | None = None,
                 latency_seconds: float = 2.0, retry_after: float = 1.0) -> Storm:
        """Start a storm now, replacing any in progress.

        Raises:
            ValueError: an unknown mode, a duration outside (0, MAX_STORM_SECONDS], or a ``5xx``
                status outside 500-599.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if not 0 < seconds <= MAX_STORM_SECONDS:
            raise ValueError(f"seconds must be in (0, {MAX_STORM_SECONDS:.0f}]")
        code = 429 if mode == "429" else (status or 503)
        if mode == "5xx" and not 500 <= code <= 599:
            raise ValueError("a 5xx storm's status must be 500-599")
        storm = Storm(mode, seconds, code, max(0.0, latency_seconds), max(0.0, retry_after), self._wall())
        with self._lock:
            self._storm, self._until = storm, self._clock() + seconds
            self._history.append(storm)
        return storm

    def now(self) -> Storm | None:
        """The storm in progress, or None."""
        with self._lock:
            if self._storm is not None and self._clock() >= self._until:
                self._storm = None
            return self._storm

    def record(self, status: int) -> None:
        """Count one answer of the API (2xx also marks the time it last worked)."""
        with self._lock:
            ok = 200 <= status < 300
            self._answers["ok" if ok else str(status)] += 1
            if ok:
                self._last_ok_at = self._wall()

    def snapshot(self) -> dict[str, Any]:
        storm = self.now()
        with self._lock:
            return {"storm": asdict(storm) if storm else None, "answers": dict(self._answers),
                    "last_ok_at": self._last_ok_at, "history": [asdict(s) for s in self._history]}


async def weather_gate(weather: Weather, request: Request,
                       call_next: Callable[[Request], Awaitable[Response]], refuse: Refusal) -> Response:
    """The middleware body: refuse or delay API requests during a storm, count every answer."""
    path = request.url.path
    if path.startswith(EXEMPT_PREFIXES):
        return await call_next(request)
    storm = weather.now()
    if storm is not None and storm.mode == "slow":
        await asyncio.sleep(storm.latency_seconds)
    if storm is not None and storm.mode != "slow":
        response = refuse(storm)
    else:
        response = await call_next(request)
    weather.record(response.status_code)
    return response


def install(app: FastAPI, weather: Weather | None = None, refuse: Refusal = json_refusal) -> Weather:
    """Add the storm middleware and ``POST``/``GET /_sim/storm`` to ``app``; returns its weather."""
    weather = weather or Weather()
    app.state.weather = weather

    @app.middleware("http")
    async def storm_gate(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        return await weather_gate(weather, request, call_next, refuse)

    @app.post("/_sim/storm")
    def start_storm(body: dict[str, Any]) -> dict[str, Any]:
        try:
            storm = weather.forecast(body.get("mode", "5xx"), float(body.get("seconds", 10)),
                                     status=body.get("status"),
                                     latency_seconds=float(body.get("latency_seconds", 2.0)),
                                     retry_after=float(body.get("retry_after", 1.0)))
        except (TypeError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from exc
        return {"storm": asdict(storm)}

    @app.get("/_sim/storm")
    def storm_state() -> dict[str, Any]:
        return weather.snapshot()

    return weather
