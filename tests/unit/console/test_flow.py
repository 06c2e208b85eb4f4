"""The flow page: rates per second from the index's audit counts, the lag sampler's hour of samples,
time to drain, and the page and its chart data as a signed-in person gets them."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import pytest

from bus.errors import TransientError
from bus.observability.lag import GroupLag, LagReport, PartitionLag
from services.console.flow import aligned, per_second, service_flows
from services.console.lag_history import LAG_HISTORY, LagHistory, drain
from tests.unit.console.fakes import OPERATOR_TOKEN, VIEWER_TOKEN, client, console, signed_in

NOW = 1e9  # the fakes' console clock (seconds)
NOW_MS = int(NOW * 1000)


def report(**groups: tuple[int, int, float | None]) -> LagReport:
    """One measurement: group -> (position, lag, lag_seconds) on one partition of topic ``t``."""
    return LagReport(tuple(
        GroupLag(name, "stable", 1, (PartitionLag(name, "t", 0, position, 0, position + lag, lag, age),))
        for name, (position, lag, age) in groups.items()))


class Script:
    """A measure function answering the next report each call, and a clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.reports: list[LagReport | Exception] = []

    def __call__(self) -> LagReport:
        answer = self.reports.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def history(self, interval: float = 15.0) -> LagHistory:
        return LagHistory(self, interval, clock=lambda: self.now)

    def take(self, history: LagHistory, at: float, answer: LagReport | Exception) -> None:
        self.now = at
        self.reports.append(answer)
        history.sample()


# --- time to drain ---------------------------------------------------------------------------

def test_a_draining_group_s_time_is_its_lag_over_its_recent_consumption_rate() -> None:
    script = Script()
    history = script.history()
    script.take(history, 1_000, report(g=(5_000, 1_000, 40.0)))
    script.take(history, 1_060, report(g=(5_600, 700, 30.0)))  # 600 consumed in 60 s: 10/s
    [found] = history.drains()
    assert found.rate == pytest.approx(10.0)
    assert found.trend == "draining"
    assert found.seconds == pytest.approx(70.0)  # 700 left at 10/s
    assert (found.lag, found.lag_seconds) == (700, 30.0)


def test_a_group_whose_lag_grows_is_not_draining_even_while_it_consumes() -> None:
    script = Script()
    history = script.history()
    script.take(history, 1_000, report(g=(100, 50, 5.0)))
    script.take(history, 1_060, report(g=(400, 80, 9.0)))  # consumed 300, but the lag grew
    [found] = history.drains()
    assert found.trend == "not draining" and found.seconds is None
    assert found.rate == pytest.approx(5.0)


def test_a_lag_of_transaction_markers_only_is_caught_up_and_replay_marks_are_not_services() -> None:
    script = Script()
    history = script.history()
    script.take(history, 1_000, report(g=(100, 0, 0.0)))
    script.take(history, 1_060, report(g=(104, 4, 0.0), **{"ecombus.dlq-replay.router": (0, 3, 50.0)}))
    [found] = history.drains()  # the markers after each transaction's records: nothing left to read
    assert (found.group, found.trend, found.seconds) == ("g", "caught up", 0.0)


def test_a_group_that_consumes_nothing_has_no_time_to_drain() -> None:
    script = Script()
    history = script.history()
    script.take(history, 1_000, report(g=(100, 50, 5.0)))
    script.take(history, 1_060, report(g=(100, 50, 65.0)))
    [found] = history.drains()
    assert (found.trend, found.seconds, found.rate) == ("not consuming", None, 0.0)


def test_caught_up_and_first_sample() -> None:
    script = Script()
    history = script.history()
    script.take(history, 1_000, report(idle=(10, 0, 0.0), busy=(10, 5, 1.0)))
    busy, idle = history.drains()
    assert (busy.group, busy.trend, busy.seconds) == ("busy", "measuring", None)
    assert (idle.group, idle.trend, idle.seconds) == ("idle", "caught up", 0.0)


def test_the_rate_is_taken_over_the_recent_window_only() -> None:
    script = Script()
    history = script.history()
    script.take(history, 1_000, report(g=(0, 10_000, 1.0)))
    script.take(history, 1_600, report(g=(6_000, 4_000, 1.0)))  # 10/s long ago
    script.take(history, 1_900, report(g=(6_300, 3_700, 1.0)))  # 1/s over the last 5 minutes
    [found] = history.drains(recent_seconds=300)
    assert found.rate == pytest.approx(1.0)
    assert found.seconds == pytest.approx(3_700)


def test_consumption_counts_moves_forward_only_and_new_partitions_from_their_first_sight() -> None:
    script = Script()
    history = script.history()

    def two(p0: int, p1: int | None) -> LagReport:
        parts = [PartitionLag("g", "t", 0, p0, 0, p0 + 10, 10, 1.0)]
        if p1 is not None:
            parts.append(PartitionLag("g", "t", 1, p1, 0, p1 + 10, 10, 1.0))
        return LagReport((GroupLag("g", "stable", 2, tuple(parts)),))

    script.take(history, 1_000, two(100, None))
    script.take(history, 1_010, two(150, 7_000))  # partition 1 appears: its position is no consumption
    script.take(history, 1_020, two(120, 7_040))  # partition 0 reset backwards: counts as 0
    assert [s.groups["g"].consumed for s in history.samples()] == [0, 50, 90]


# --- the hour kept ---------------------------------------------------------------------------

def test_samples_older_than_the_window_are_dropped_and_the_memory_is_bounded() -> None:
    script = Script()
    history = script.history(interval=60.0)
    for n in range(200):
        script.take(history, 1_000 + 60 * n, report(g=(n, 1, 1.0)))
    kept = history.samples()
    assert kept[-1].at == 1_000 + 60 * 199
    assert kept[0].at >= kept[-1].at - 3600
    assert len(kept) == 61  # an hour of one-minute samples, both ends included
    assert history._samples.maxlen == 62


def test_a_failed_measurement_is_reported_and_keeps_no_sample() -> None:
    script = Script()
    history = script.history()
    script.take(history, 1_000, report(g=(1, 1, 1.0)))
    script.take(history, 1_015, TransientError("cannot measure consumer-group lag: broker down"))
    assert len(history.samples()) == 1
    assert history.last_error and "broker down" in history.last_error
    script.take(history, 1_030, report(g=(2, 1, 1.0)))
    assert history.last_error is None and len(history.samples()) == 2


def test_the_sampler_runs_as_an_assembly_part_until_stopped() -> None:
    stop = threading.Event()
    calls = []

    def measure() -> LagReport:
        calls.append(1)
        if len(calls) == 3:
            stop.set()
        return report(g=(len(calls), 0, 0.0))

    LagHistory(measure, 0.001).run(stop)
    assert len(calls) == 3


def test_drain_of_a_group_missing_from_the_newest_sample_is_none() -> None:
    script = Script()
    history = script.history()
    script.take(history, 1_000, report(gone=(1, 1, 1.0)))
    script.take(history, 1_015, report(other=(1, 0, 0.0)))
    assert drain("gone", history.samples()) is None
    assert [d.group for d in history.drains()] == ["other"]


# --- rates -----------------------------------------------------------------------------------

def test_counts_per_bucket_become_messages_per_second() -> None:
    since = 600_000
    buckets = {since - 60_000: {"OK": 999},  # before the window: not counted
               since: {"OK": 50, "DUPLICATE": 4, "DEAD_LETTERED": 3, "FAILED": 3},
               since + 60_000: {"OK": 30, "RETRIED": 2}}
    received, out, failed = per_second(buckets, since, since + 100_000)  # 100 s elapsed
    assert received == pytest.approx(0.92)
    assert out == pytest.approx(0.80)
    assert failed == pytest.approx(0.06)
    assert per_second(buckets, since, since) == (0.0, 0.0, 0.0)


def test_service_flows_use_the_last_five_whole_minutes_and_count_the_hour_s_failures() -> None:
    now = aligned(NOW_MS) + 30_000  # half a minute into a bucket
    window_start = aligned(now - 300_000)
    rates = {"router": {window_start: {"OK": 330}, aligned(now - 2_000_000): {"FAILED": 7, "OK": 1}},
             "crm-updater": {}}
    crm, router = service_flows(rates, now)
    assert crm.service == "crm-updater" and crm.in_per_second == 0
    assert router.out_per_second == pytest.approx(1.0)  # 330 over 330 s
    assert router.failed_per_second == 0 and router.failed_last_hour == 7


# --- the page ----------------------------------------------------------------------------------

class FakeIndex:
    """The two index queries the flow page makes (service_rates, erp_gap)."""

    def __init__(self) -> None:
        self.asked: list[tuple[Any, ...]] = []

    def service_rates(self, since_ms: int, bucket_seconds: int) -> dict[str, dict[int, dict[str, int]]]:
        self.asked.append(("rates", since_ms, bucket_seconds))
        recent = aligned(NOW_MS - 300_000)
        return {"order-capture": {recent: {"OK": 600, "DEAD_LETTERED": 60}}}

    def erp_gap(self, now_ms: int) -> tuple[int, float, list[str]]:
        self.asked.append(("gap", now_ms))
        return 3, 5400.0, ["ord-1", "ord-2"]


def flow_console(index: Any = None, history: LagHistory | None = None) -> Any:
    c = console()
    c.index = index
    if history is not None:
        c.extras[LAG_HISTORY] = history
    return c


def test_the_page_shows_rates_gap_and_a_group_that_is_not_draining() -> None:
    script = Script()
    history = script.history()
    router, crm = "ecombus.router", "ecombus.crm-updater"
    script.take(history, NOW - 60, report(**{router: (100, 50, 5.0), crm: (0, 900, 60.0)}))
    script.take(history, NOW, report(**{router: (400, 80, 9.0), crm: (600, 300, 20.0)}))
    index = FakeIndex()
    page = signed_in(VIEWER_TOKEN, flow_console(index, history)).get("/flow")
    assert page.status_code == 200
    rows = _rows(page.text, "data-group")
    assert "not draining" in rows["ecombus.router"] and 'data-testid="drain">—<' in rows["ecombus.router"]
    assert 'data-testid="drain">30 s<' in rows["ecombus.crm-updater"]  # 300 left at 10/s
    service = _rows(page.text, "data-service")["order-capture"]
    elapsed = (NOW_MS - aligned(NOW_MS - 300_000)) / 1000  # 340 s: the window starts on a minute
    for count in (660, 600, 60):
        assert f">{count / elapsed:.2f}<" in service
    assert "3 orders, oldest 90 min" in page.text and "<code>ord-2</code>" in page.text
    assert ("gap", NOW_MS) in index.asked
    assert '<script src="/static/flow.js"></script>' in page.text
    data = json.loads(re.search(r'<script type="application/json" id="lag-data">(.*?)</script>',
                                page.text, re.S).group(1))  # type: ignore[union-attr]
    assert data["groups"] == ["ecombus.crm-updater", "ecombus.router"]
    assert data["lag"] == [[900, 300], [50, 80]]
    assert "<script>" not in page.text and "style=" not in page.text, "the CSP allows neither"


def _rows(html: str, attribute: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(rf'{attribute}="([^"]+)"(.*?)</tr>', html, re.S)}


def test_without_the_index_or_the_sampler_the_page_says_so() -> None:
    page = signed_in(OPERATOR_TOKEN, flow_console()).get("/flow")
    assert page.status_code == 200
    assert "Rates: index not available" in page.text and "ERP gap: index not available" in page.text
    assert 'data-testid="no-sampler"' in page.text
    answer = signed_in(OPERATOR_TOKEN, flow_console()).get("/flow/lag.json")
    assert answer.status_code == 503 and answer.json() == {"error": "lag sampling is not running"}


def test_a_failed_measurement_is_shown_on_the_page() -> None:
    script = Script()
    history = script.history()
    script.take(history, NOW, TransientError("cannot measure consumer-group lag: broker down"))
    page = signed_in(OPERATOR_TOKEN, flow_console(FakeIndex(), history)).get("/flow")
    assert 'data-testid="lag-error"' in page.text and "broker down" in page.text


def test_lag_json_serves_the_chart_data_to_the_signed_in_only() -> None:
    script = Script()
    history = script.history()
    script.take(history, NOW - 15, report(g=(1, 4, 2.5)))
    script.take(history, NOW, report(g=(3, 2, None)))
    c = flow_console(history=history)
    assert client(c).get("/flow/lag.json").status_code == 401
    data = signed_in(VIEWER_TOKEN, c).get("/flow/lag.json").json()
    assert data["times"] == [NOW - 15, NOW]
    assert data["groups"] == ["g"] and data["lag"] == [[4, 2]] and data["lag_seconds"] == [[2.5, None]]
    assert data["interval_seconds"] == 15.0


def test_the_erp_gap_may_come_as_an_object_too() -> None:
    from dataclasses import dataclass

    from services.console.flow import index_erp_gap

    @dataclass
    class Gap:
        count: int
        oldest_age_seconds: float | None
        order_ids: list[str]

    class Index:
        def erp_gap(self, now_ms: int) -> Gap:
            return Gap(2, 30.0, ["a", "b"])

    gap = index_erp_gap(Index(), NOW_MS)
    assert (gap.count, gap.oldest_age_seconds, gap.order_ids) == (2, 30.0, ("a", "b"))
