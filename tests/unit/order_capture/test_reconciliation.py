"""Reconciliation: every listed order recent enough is stored on the raw intake (channel
``reconciliation``, keyed by the order id, like its webhooks); the cursor moves on only once all
were stored. Whether one is new is the intake stage's to decide (test_stage.py).

And :class:`Reconciling`, the reconciler as a part of the service: waits for the stores, a pass
every interval, a pass in hand finishes (within the drain timeout) at stop."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bus.errors import Unavailable
from bus.http import ApiClient
from bus.serde import AvroCodec
from bus.webhooks.intake import IntakeLog
from bus.webhooks.stage import delivery_of
from services.order_capture.reconciliation import ORDERS_PATH, Reconciler, Reconciling
from simulators import fixture
from tests.unit.serde.fake_registry import FakeRegistry
from tests.unit.webhooks.fakes import FakeSender

SHOP = "hanako-tea.myshopify.com"
INTAKE = "intake.storefronts.v1"
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


def _api(requests: list[httpx.Request], orders: list[dict] | None = None) -> ApiClient:
    listed = _orders() if orders is None else orders

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if "page_info" in request.url.params:
            return httpx.Response(200, json={"orders": listed[2:]})
        link = '<https://shop.test/admin/api/2024-10/orders.json?page_info=p2&limit=250>; rel="next"'
        return httpx.Response(200, json={"orders": listed[:2]}, headers={"Link": link})

    return ApiClient("shopify", "https://shop.test", transport=httpx.MockTransport(answer))


class Intake:
    """An IntakeLog on a fake sender, and what it stored, decoded."""

    def __init__(self, sender: FakeSender | None = None) -> None:
        self.sender = sender or FakeSender()
        self.codec = AvroCodec(FakeRegistry().client())
        self.log = IntakeLog(self.sender, self.codec, INTAKE, "order-capture", ack_timeout=0.5)

    def stored(self) -> list[tuple[Any, dict[str, Any]]]:
        return [(k, self.codec.decode(t, v or b"")) for t, v, k, _ in self.sender.produced]


def _reconciler(requests: list[httpx.Request], intake: Intake, cursors: FakeCursors,
                orders: list[dict] | None = None) -> Reconciler:
    return Reconciler(_api(requests, orders), SHOP.upper(), intake.log, cursors,  # type: ignore[arg-type]
                      overlap=120, lookback=3600, max_age=7 * 86400, clock=lambda: NOW)


def test_every_listed_order_not_older_than_the_dedupe_ttl_is_stored_on_the_intake() -> None:
    requests: list[httpx.Request] = []
    intake, cursors = Intake(), FakeCursors()
    done = asyncio.run(_reconciler(requests, intake, cursors).run_once())
    assert done.window == ("2025-06-03T11:00:00Z", "2025-06-03T12:00:00Z"), "lookback without a cursor"
    assert (done.listed, done.stored) == (3, [f"shopify:{SHOP}:6120004415", f"shopify:{SHOP}:6120004999"])
    assert done.skipped == [f"shopify:{SHOP}:5000000001"], "created before the dedupe keys are remembered"
    stored = intake.stored()
    assert [key for key, _ in stored] == done.stored, "keyed by the order id, like its webhooks"
    raw = stored[0][1]
    assert (raw["channel"], raw["path"], raw["topic"], raw["identity"]) == (
        "reconciliation", ORDERS_PATH, "orders/create", f"shopify:{SHOP}:6120004415")
    assert raw["meta"]["source"] == {"platform": "shopify", "system": SHOP}, "the shop, lower-case"
    assert raw["meta"]["occurred_at"] == datetime.fromtimestamp(NOW, UTC)
    assert raw["headers"] == {}
    delivery = delivery_of(raw)
    listed = json.loads(fixture("shopify_orders_create.json"), parse_float=Decimal)
    assert delivery.payload["id"] == 6120004415 and delivery.payload["name"] == listed["name"]
    assert delivery.payload["total_price"] == listed["total_price"], "money as the API listed it"
    assert cursors.values == {f"shopify:{SHOP}": "2025-06-03T12:00:00Z"}
    first = requests[0].url.params
    assert (first["updated_at_min"], first["updated_at_max"], first["status"]) == (
        "2025-06-03T11:00:00Z", "2025-06-03T12:00:00Z", "any")
    assert requests[1].url.params["page_info"] == "p2"

    again = asyncio.run(_reconciler(requests, intake, cursors).run_once())
    assert again.window[0] == "2025-06-03T11:58:00Z", "the next window starts at cursor minus overlap"
    assert len(again.stored) == 2, "stored again: the stage tells what was published"


def test_an_order_without_a_usable_id_or_creation_time_is_skipped_not_stored() -> None:
    good = json.loads(fixture("shopify_orders_create.json"))
    orders = [{**good, "id": "not-a-number"}, {**good, "id": 61, "created_at": None}, good]
    intake = Intake()
    done = asyncio.run(_reconciler([], intake, FakeCursors(), orders).run_once())
    assert done.skipped == ["(invalid)", "(invalid)"]
    assert [key for key, _ in intake.stored()] == [f"shopify:{SHOP}:6120004415"]


def test_the_cursor_stays_when_the_broker_does_not_store() -> None:
    intake, cursors = Intake(FakeSender(failing={INTAKE})), FakeCursors("2025-06-03T11:00:00Z")
    with pytest.raises(Unavailable, match="did not store"):
        asyncio.run(_reconciler([], intake, cursors).run_once())
    assert cursors.values == {f"shopify:{SHOP}": "2025-06-03T11:00:00Z"}
    assert intake.sender.produced == []


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
