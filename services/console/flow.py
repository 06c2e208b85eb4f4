"""The flow page (``/flow``): what each service takes in, passes on and fails, per second; every
consumer group's lag with its chart over the last hour and its time to drain; and the business gap
"orders placed but not yet in the ERP". ``/flow/lag.json`` serves the chart's data.

Rates come from the index's audit counts (every outcome a service records is a message in, ``OK``
is a message out, ``DEAD_LETTERED`` and ``FAILED`` are failures), lag from the sampler
(:mod:`.lag_history`, in ``console.extras["lag_history"]``). Without the index or the sampler the
page still renders and says what is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from services.console.context import Console
from services.console.lag_history import LAG_HISTORY, LagHistory
from services.console.pages import render

RATE_WINDOW_SECONDS = 300
"""Rates are averaged over (at least) the last five minutes."""
BUCKET_SECONDS = 60
HOUR_SECONDS = 3600
OUT_OUTCOMES = frozenset({"OK"})
FAILED_OUTCOMES = frozenset({"DEAD_LETTERED", "FAILED"})

Buckets = Mapping[int, Mapping[str, int]]
"""One service's audit counts: bucket start (epoch ms) → outcome → records."""


@dataclass(frozen=True)
class ServiceFlow:
    """One service's messages per second over the recent window, and its failures in the hour."""

    service: str
    in_per_second: float
    out_per_second: float
    failed_per_second: float
    failed_last_hour: int


@dataclass(frozen=True)
class ErpGap:
    """Orders placed but not yet in the ERP: how many, the oldest one's age, a few of their ids."""

    count: int
    oldest_age_seconds: float | None
    order_ids: tuple[str, ...]


def aligned(moment_ms: int, bucket_seconds: int = BUCKET_SECONDS) -> int:
    """``moment_ms`` rounded down to the start of its bucket (buckets start at multiples of their size)."""
    size = bucket_seconds * 1000
    return moment_ms // size * size


def per_second(buckets: Buckets, since_ms: int, now_ms: int) -> tuple[float, float, float]:
    """(in, out, failed) per second from the buckets starting at or after ``since_ms``.

    The time counted is ``now - since``: the current bucket, still filling, counts for the part of
    it that has passed, so a steady flow reads the same at any moment within a minute.
    """
    elapsed = (now_ms - since_ms) / 1000
    if elapsed <= 0:
        return 0.0, 0.0, 0.0
    received = out = failed = 0
    for start, outcomes in buckets.items():
        if start < since_ms:
            continue
        received += sum(outcomes.values())
        out += sum(n for o, n in outcomes.items() if o in OUT_OUTCOMES)
        failed += sum(n for o, n in outcomes.items() if o in FAILED_OUTCOMES)
    return received / elapsed, out / elapsed, failed / elapsed


def service_flows(rates: Mapping[str, Buckets], now_ms: int,
                  window_seconds: int = RATE_WINDOW_SECONDS) -> list[ServiceFlow]:
    """Every service's rates since the bucket ``window_seconds`` ago began, by service name."""
    since = aligned(now_ms - window_seconds * 1000)
    hour = aligned(now_ms - HOUR_SECONDS * 1000)
    flows = []
    for service in sorted(rates):
        buckets = rates[service]
        failed_hour = sum(n for start, outcomes in buckets.items() if start >= hour
                          for o, n in outcomes.items() if o in FAILED_OUTCOMES)
        flows.append(ServiceFlow(service, *per_second(buckets, since, now_ms), failed_hour))
    return flows


# --- the index's interface, in one place (the index is built beside this page) ---------------

def index_flows(index: Any, now_ms: int) -> list[ServiceFlow]:
    """``index.service_rates(since_ms, bucket_seconds)`` → {service: {bucket start ms: {outcome:
    count}}} over the last hour, as :class:`ServiceFlow` rows."""
    return service_flows(index.service_rates(aligned(now_ms - HOUR_SECONDS * 1000), BUCKET_SECONDS), now_ms)


def index_erp_gap(index: Any, now_ms: int) -> ErpGap:
    """``index.erp_gap(now_ms)`` → (count, oldest age in seconds, sample order ids), or an object with
    ``count``, ``oldest_age_seconds`` and ``order_ids`` (the overview reads the first two)."""
    gap = index.erp_gap(now_ms)
    if isinstance(gap, tuple):  # a NamedTuple too
        count, oldest, order_ids = gap
    else:
        count, oldest, order_ids = gap.count, gap.oldest_age_seconds, getattr(gap, "order_ids", ())
    return ErpGap(int(count), oldest, tuple(order_ids or ()))


# --- routes ----------------------------------------------------------------------------------

def routes(console: Console) -> APIRouter:
    """``/flow`` (the page) and ``/flow/lag.json`` (the lag chart's data, :func:`~.lag_history.chart`)."""
    router = APIRouter()

    def history() -> LagHistory | None:
        found = console.extras.get(LAG_HISTORY)
        return found if isinstance(found, LagHistory) else None

    @router.get("/flow", response_class=HTMLResponse)
    def flow_page(request: Request) -> Response:
        now_ms = int(console.clock() * 1000)
        index, sampler, tailer = console.index, history(), console.tailer
        return render(
            request, "flow.html",
            flows=index_flows(index, now_ms) if index is not None else None,
            gap=index_erp_gap(index, now_ms) if index is not None else None,
            rebuild=tailer.progress() if tailer is not None else None,
            sampler=sampler, drains=sampler.drains() if sampler else [],
            chart=sampler.chart() if sampler else None,
            rate_window=RATE_WINDOW_SECONDS)

    @router.get("/flow/lag.json")
    def lag_json() -> Response:
        sampler = history()
        if sampler is None:
            return JSONResponse({"error": "lag sampling is not running"}, status_code=503)
        return JSONResponse(sampler.chart())

    return router
