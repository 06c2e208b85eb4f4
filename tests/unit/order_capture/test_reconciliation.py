"""Reconciliation: orders whose webhook never arrived are backfilled once; the cursor moves on.

And :class:`Reconciling`, the reconciler as a part of the service: waits for the stores, a pass
every interval, a pass in hand finishes (within the drain timeout) at stop."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from bus.errors import Unavailable
from bus.http import ApiClient
from bus.serde import AvroCodec
from bus.webhooks import Publisher
from services.order_capture.handlers import OrderCapture, Topics, placed_key
from services.order_capture.reconciliation import Reconciler, Reconciling
from simulators import fixture
from tests.unit.serde.fake_registry import FakeRegistry
from tests.unit.webhooks.fakes import FakeDedupe, FakeSender

SHOP = "hanako-tea.myshopify.com"
NOW = datetime(2025, 6, 3, 12, 0, tzinfo=UTC).timestamp()


class FakeCursors:
    def __init__(self, value: str | None = None) -> None:
        self.values = {} if value is None else {f"shopify:{SHOP}": value}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def put(self, name: str, value: str) -> None:
        self.values[name] = value


def _orders() -> list[dict]:
    fixture_order = json.loads(fixture("shopify_orders_create.json"))
    missed = {**fixture_order, "id": 6120004999, "name": "#1099", "created_at": "2025-06-03T11:00:00Z"}
    ancient = {**fixture_order, "id": 5000000001, "name": "#7", "created_at": "2025-04-01T00:00:00Z",
               "updated_at": "2025-06-03T11:30:00Z"}
    return [fixture_order, missed, ancient]


def _api(requests: list[httpx.Request]) -> ApiClient:
    orders = _orders()

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if "page_info" in request.url.params:
            return httpx.Response(200, json={"orders": orders[2:]})
        link = '<https://shop.test/admin/api/2024-10/orders.json?page_info=p2&limit=250>; rel="next"'
        return httpx.Response(200, json={"orders": orders[:2]}, headers={"Link": link})

    return ApiClient("shopify", "https://shop.test", transport=httpx.MockTransport(answer))


def _reconciler(requests: list[httpx.Request], dedupe: FakeDedupe, sender: FakeSender,
                cursors: FakeCursors) -> Reconciler:
    publisher = Publisher(sender, AvroCodec(FakeRegistry().client()), dedupe, ack_timeout=0.5)
    return Reconciler(_api(requests), SHOP, OrderCapture(Topics()), publisher, cursors,  # type: ignore
                      overlap=120, lookback=3600, max_age=7 * 86400, clock=lambda: NOW)


def test_backfills_only_the_order_whose_webhook_never_arrived() -> None:
    requests: list[httpx.Request] = []
    dedupe = FakeDedupe({placed_key(f"shopify:{SHOP}:6120004415")})  # its webhook arrived
    sender, cursors = FakeSender(), FakeCursors()
    done = asyncio.run(_reconciler(requests, dedupe, sender, cursors).run_once())
    assert done.window == ("2025-06-03T11:00:00Z", "2025-06-03T12:00:00Z"), "lookback without a cursor"
    assert (done.listed, done.backfilled) == (3, [f"shopify:{SHOP}:6120004999"])
    assert done.skipped == [f"shopify:{SHOP}:5000000001"], "created before the dedupe store remembers"
    assert [t for t, *_ in sender.produced] == ["orders.placed.v1", "customers.profiles.v1"]
    assert cursors.values == {f"shopify:{SHOP}": "2025-06-03T12:00:00Z"}
    first = requests[0].url.params
    assert (first["updated_at_min"], first["updated_at_max"], first["status"]) == (
        "2025-06-03T11:00:00Z", "2025-06-03T12:00:00Z", "any")
    assert requests[1].url.params["page_info"] == "p2"

    again = asyncio.run(_reconciler(requests, dedupe, sender, cursors).run_once())
    assert again.backfilled == [] and len(sender.produced) == 2, "nothing is backfilled twice"
    assert again.window[0] == "2025-06-03T11:58:00Z", "the next window starts at cursor minus overlap"


def test_the_cursor_stays_when_the_broker_does_not_store() -> None:
    sender, cursors = FakeSender(failing={"orders.placed.v1"}), FakeCursors("2025-06-03T11:00:00Z")
    reconciler = _reconciler([], FakeDedupe(), sender, cursors)
    with pytest.raises(Unavailable, match="did not store"):
        asyncio.run(reconciler.run_once())
    assert cursors.values == {f"shopify:{SHOP}": "2025-06-03T11:00:00Z"}


class FakePasses:
    """A reconciler whose passes take ``seconds`` each and fail as told (in order)."""

    def __init__(self, seconds: float = 0.0, failures: list[BaseException | None] | None = None) -> None:
        self.seconds, self.failures = seconds, list(failures or [])
        self.started = self.finished = 0

    async def run_once(self) -> None:
        self.started += 1
        await asyncio.sleep(self.seconds)
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure
        self.finished += 1


def _run_part(part: Reconciling, stop: threading.Event) -> tuple[threading.Thread, list[BaseException]]:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            part.run(stop)
        except BaseException as exc:
            failures.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    return runner, failures


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_part_waits_for_the_stores_then_reconciles_every_interval_and_survives_a_bus_error() -> None:
    passes = FakePasses(failures=[Unavailable("the shop's API is down"), None])
    loaded, stop = threading.Event(), threading.Event()
    runner, failures = _run_part(Reconciling(passes, 0.05, after=loaded), stop)  # type: ignore[arg-type]
    time.sleep(0.3)
    assert passes.started == 0, "no pass before the dedupe store and the cursors are loaded"
    loaded.set()
    _until(lambda: passes.finished >= 3)
    stop.set()
    runner.join(10)
    assert not runner.is_alive() and failures == []
    assert passes.started - passes.finished == 1, "the failed pass was retried at the next interval"


def test_stop_lets_the_pass_in_hand_finish_within_the_drain_timeout() -> None:
    passes, stop = FakePasses(seconds=0.5), threading.Event()
    runner, failures = _run_part(Reconciling(passes, 60, drain_timeout=10), stop)  # type: ignore[arg-type]
    _until(lambda: passes.started == 1)
    stop.set()
    runner.join(10)
    assert not runner.is_alive() and failures == []
    assert (passes.started, passes.finished) == (1, 1)


def test_a_pass_longer_than_the_drain_timeout_is_cancelled() -> None:
    passes, stop = FakePasses(seconds=30), threading.Event()
    runner, failures = _run_part(Reconciling(passes, 60, drain_timeout=0.2), stop)  # type: ignore[arg-type]
    _until(lambda: passes.started == 1)
    started = time.monotonic()
    stop.set()
    runner.join(10)
    assert not runner.is_alive() and failures == [] and passes.finished == 0
    assert time.monotonic() - started < 5


def test_an_unexpected_error_ends_the_part_and_so_the_service() -> None:
    passes = FakePasses(failures=[AttributeError("'list' object has no attribute 'get'")])
    stop = threading.Event()
    runner, failures = _run_part(Reconciling(passes, 0.05), stop)  # type: ignore[arg-type]
    runner.join(10)
    assert not runner.is_alive() and not stop.is_set()
    assert [type(f) for f in failures] == [AttributeError]
