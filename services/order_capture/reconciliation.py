"""Backfilling orders whose webhook never arrived, from the storefront's order list.

Each pass lists the Shopify orders changed in a window
(``GET /admin/api/2024-10/orders.json?updated_at_min=&updated_at_max=&status=any``, following
``Link: rel="next"`` pages) and stores every listed order on the raw intake (channel
``reconciliation``, keyed by the order id, like its webhooks). The intake stage publishes an
OrderPlaced for those not yet published, by webhook or by an earlier pass: both claim the
order-level dedupe key ``<order_id>:placed``, decided by the one owner of the order's partition.
A listed order also carries what happened after the sale (``cancelled_at``, its ``refunds``): the
stage publishes its OrderCancelled and one OrderRefunded per refund under the keys a webhook
claims too (``<order_id>:cancelled``, ``<order_id>:refund:<id>``), so a lost ``refunds/create``
is backfilled and a refund both ways deliver is published once. An order is listed again when a
refund or a cancellation changes its ``updated_at``.
The window starts at the stored cursor minus an overlap (late writes at the storefront) and ends
now; the cursor advances only after a pass stored everything. Orders created longer ago than the
dedupe keys are remembered are left alone, since whether they were published can no longer be
told.

A stored order's body is the order as the API listed it, serialised again as JSON (numbers with
a fraction, which the listing read as exact decimals, become strings; Shopify sends money as
strings anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bus.errors import BusError, InvalidInput
from bus.http import ApiClient
from bus.webhooks.intake import RECONCILIATION, Identity, IntakeLog
from bus.webhooks.payload import utc
from services.order_capture.cursor import CursorStore
from services.order_capture.handlers import resource_id

log = logging.getLogger("ecombus.order_capture.reconciliation")

ORDERS_PATH = "/admin/api/2024-10/orders.json"


def iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Pass:
    """What one reconciliation pass did."""

    window: tuple[str, str]
    listed: int = 0
    stored: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class Reconciler:
    """Lists one Shopify shop's orders and backfills the missing ones.

    Args:
        api: the shop's admin API (``X-Shopify-Access-Token`` set).
        shop: the shop domain (the system in order ids).
        intake: where listed orders are stored (the intake stage decides what is new).
        cursors: where the end of the last window is kept.
        overlap / lookback / max_age: seconds (see the module docstring and settings).
        clock: wall clock.
    """

    def __init__(self, api: ApiClient, shop: str, intake: IntakeLog, cursors: CursorStore, *,
                 overlap: float = 120.0, lookback: float = 86400.0, max_age: float = 7 * 86400.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.api, self.shop, self.intake = api, shop.strip().lower(), intake
        self.cursors = cursors
        self.overlap, self.lookback, self.max_age = overlap, lookback, max_age
        self._clock = clock

    @property
    def cursor_name(self) -> str:
        return f"shopify:{self.shop}"

    async def run_once(self) -> Pass:
        """One pass; the cursor advances when every missing order was stored.

        Raises:
            BusError: the API or the broker failed (the cursor stays where it was).
        """
        now = self._clock()
        stored = self.cursors.get(self.cursor_name)
        start = utc(stored, "cursor").timestamp() - self.overlap if stored else now - self.lookback
        done = Pass((iso(start), iso(now)))
        orders = await asyncio.to_thread(self._list, done.window)
        done.listed = len(orders)
        for order in orders:
            await self._backfill(order, now, done)
        await asyncio.to_thread(self.cursors.put, self.cursor_name, done.window[1])
        log.info("reconciliation stored %d of %d listed order(s) on the intake (%d skipped)",
                 len(done.stored), done.listed, len(done.skipped))
        return done

    async def _backfill(self, order: dict[str, Any], now: float, done: Pass) -> None:
        try:
            order_id = f"shopify:{self.shop}:{resource_id(order, 'id')}"
            created = utc(order.get("created_at"), "created_at").timestamp()
        except InvalidInput as exc:
            log.error("reconciliation skips a listed Shopify order: %s", exc)
            done.skipped.append("(invalid)")
            return
        if created < now - self.max_age:
            done.skipped.append(order_id)
            return
        body = json.dumps(order, ensure_ascii=False, default=str, separators=(",", ":")).encode()
        await self.intake.write("shopify", Identity(self.shop, order_id, "orders/create"), RECONCILIATION,
                                ORDERS_PATH, {}, body, now)
        done.stored.append(order_id)

    def _list(self, window: tuple[str, str]) -> list[dict[str, Any]]:
        params: dict[str, Any] | None = {"updated_at_min": window[0], "updated_at_max": window[1],
                                         "status": "any", "limit": 250}
        url: str | None = ORDERS_PATH
        orders: list[dict[str, Any]] = []
        while url:
            response = self.api.request("GET", url, params=params)
            orders += response.json(parse_float=Decimal).get("orders") or []
            url, params = response.links.get("next", {}).get("url"), None
        return orders



class Reconciling:
    """Reconciliation as a part of the service: a pass every ``interval`` seconds until stop.

    The first pass waits for ``after`` (the dedupe store and the cursors loaded). A pass that
    fails with a :class:`~bus.errors.BusError` (the API or the broker) is logged and retried at
    the next interval; any other error ends the part, and so the service, rather than leave it
    running without reconciliation. When ``stop`` is set during a pass, the pass gets
    ``drain_timeout`` seconds to finish what it publishes, then is cancelled (its cursor stays
    where it was, so the next run repeats the window; the dedupe keys keep that harmless).

    Args:
        reconciler: does the passes, on its own event loop in the part's thread.
        interval: seconds from the end of one pass to the start of the next.
        after: set once the stores a pass reads are loaded.
        drain_timeout: seconds a pass in hand may take to finish once stop is set.
    """

    def __init__(self, reconciler: Reconciler, interval: float, *, after: threading.Event | None = None,
                 drain_timeout: float = 30.0) -> None:
        self.reconciler, self.interval = reconciler, interval
        self.after, self.drain_timeout = after, drain_timeout

    def run(self, stop: threading.Event) -> None:
        """Reconcile until ``stop`` is set (see the class)."""
        if self.after is not None:
            while not self.after.wait(0.1):
                if stop.is_set():
                    return
        asyncio.run(self._run(stop))

    async def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            task = asyncio.ensure_future(self._pass())
            while not task.done() and not stop.is_set():
                await asyncio.wait({task}, timeout=0.2)
            if not task.done():
                await asyncio.wait({task}, timeout=self.drain_timeout)
                if not task.done():
                    log.warning("reconciliation pass cancelled at shutdown after %.0fs", self.drain_timeout)
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    return
            task.result()  # an unexpected error ends the part
            next_pass = time.monotonic() + self.interval
            while not stop.is_set() and time.monotonic() < next_pass:
                await asyncio.sleep(min(0.2, max(0.0, next_pass - time.monotonic())))

    async def _pass(self) -> None:
        try:
            await self.reconciler.run_once()
        except BusError as exc:
            log.warning("reconciliation pass failed (retried in %.0fs): %s", self.interval, exc)
