"""The flow page's lag over the last hour: a sampler that measures every consumer group's lag at a
fixed interval and keeps the samples in memory, and what follows from them.

Lag is measured as the monitor service measures it (:func:`bus.observability.lag.measure_lag`:
admin API plus an assign-only reader of the oldest unconsumed message), so the console and the
alerts agree. The sampler is an assembly part (``run(stop)``); the pages only read its samples.

Definitions, per group, between the oldest sample of the recent window (:data:`RECENT_SECONDS`)
and the newest one:

* **consumed**: a counter of messages the group consumed since the sampler first saw it — the sum,
  over partitions seen in two consecutive samples, of how far the group's position moved
  (a position that moves back, after an offset reset, counts as 0).
* **rate**: consumed messages per second over the recent window.
* **time to drain** = lag ÷ rate: how long the group needs to consume its current backlog at its
  recent pace (new arrivals not counted). There is none ("—") when the lag grew over the window
  (``not draining``), when nothing was consumed (``not consuming``) or while fewer than two
  samples exist (``measuring``); a group without lag, or whose lag is only transaction markers
  (nothing left to read: its oldest unconsumed age is 0), is ``caught up``. The replay marks of
  ``ecombus dlq`` (:data:`NOT_SERVICES`) are not sampled.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from confluent_kafka.admin import AdminClient

from bus.errors import TransientError
from bus.observability.lag import GroupLag, LagReport, measure_lag
from bus.observability.oldest_message import OldestMessageReader
from bus.settings import ClientConfig

log = logging.getLogger(__name__)

LAG_HISTORY = "lag_history"
"""The sampler's name in :attr:`Console.extras <services.console.context.Console.extras>`."""
WINDOW_SECONDS = 3600.0
"""Samples older than this are dropped (the chart's span)."""
RECENT_SECONDS = 300.0
"""The window the consumption rate and the lag trend are measured over."""
MEASURE_TIMEOUT_SECONDS = 5.0

NOT_SERVICES = ("ecombus.dlq-replay.",)
"""Groups that are not services' consumers: the replay marks of ``ecombus dlq`` (their "lag" is the
pending dead letters, shown on the dead-letters page)."""

Trend = Literal["caught up", "draining", "not draining", "not consuming", "measuring"]


@dataclass(frozen=True)
class GroupSample:
    """One group in one sample: total lag, the oldest unconsumed message's age, consumed counter."""

    lag: int
    lag_seconds: float | None
    consumed: int
    state: str
    members: int


@dataclass(frozen=True)
class Sample:
    """One measurement: when (epoch seconds) and every group measured."""

    at: float
    groups: Mapping[str, GroupSample]


@dataclass(frozen=True)
class Drain:
    """A group's latest lag and what the recent samples say about it (module docstring).

    Attributes:
        rate: messages consumed per second over the recent window; None while measuring.
        seconds: estimated time to drain; 0 when caught up, None when there is none.
    """

    group: str
    state: str
    members: int
    lag: int
    lag_seconds: float | None
    rate: float | None
    seconds: float | None
    trend: Trend


def drain(group: str, samples: list[Sample], recent_seconds: float = RECENT_SECONDS) -> Drain | None:
    """What ``samples`` (oldest first) say about ``group``; None when the newest lacks it."""
    if not samples or group not in samples[-1].groups:
        return None
    last_at, last = samples[-1].at, samples[-1].groups[group]
    first_at, first = next((s.at, s.groups[group]) for s in samples
                           if group in s.groups and s.at >= last_at - recent_seconds)
    elapsed = last_at - first_at
    rate = (last.consumed - first.consumed) / elapsed if elapsed > 0 else None
    trend: Trend
    seconds = None
    if last.lag == 0 or last.lag_seconds == 0:  # only transaction markers left: nothing to read
        trend, seconds = "caught up", 0.0
    elif rate is None:
        trend = "measuring"
    elif last.lag > first.lag:
        trend = "not draining"
    elif rate <= 0:
        trend = "not consuming"
    else:
        trend, seconds = "draining", last.lag / rate
    return Drain(group, last.state, last.members, last.lag, last.lag_seconds, rate, seconds, trend)


def chart(samples: list[Sample], interval_seconds: float) -> dict[str, Any]:
    """The samples as uPlot wants them: one x axis (epoch seconds) and one series per group.

    Returns:
        ``{"interval_seconds", "window_seconds", "times": [...], "groups": [...],
        "lag": [[...] per group], "lag_seconds": [[...] per group]}``; ``null`` where a sample
        lacks a group or its age is unknown.
    """
    groups = sorted({g for s in samples for g in s.groups})
    times = [round(s.at, 3) for s in samples]

    def series(pick: Callable[[GroupSample], float | int | None]) -> list[list[float | int | None]]:
        return [[pick(s.groups[g]) if g in s.groups else None for s in samples] for g in groups]

    return {"interval_seconds": interval_seconds, "window_seconds": WINDOW_SECONDS, "times": times,
            "groups": groups, "lag": series(lambda g: g.lag),
            "lag_seconds": series(lambda g: None if g.lag_seconds is None else round(g.lag_seconds, 1))}


class LagHistory:
    """Measures lag every ``interval_seconds`` and keeps the last hour of samples (thread-safe).

    Args:
        measure: one measurement of every group (``measure_lag`` bound to a cluster, or a fake).
        interval_seconds: time between measurements.
        window_seconds: how much history is kept; at most ``window / interval + 2`` samples.
        clock: wall clock, seconds since the epoch (a fake in unit tests).
    """

    def __init__(self, measure: Callable[[], LagReport], interval_seconds: float, *,
                 window_seconds: float = WINDOW_SECONDS, clock: Callable[[], float] = time.time) -> None:
        self.measure, self.clock = measure, clock
        self.interval, self.window = interval_seconds, window_seconds
        self._samples: deque[Sample] = deque(maxlen=math.ceil(window_seconds / interval_seconds) + 2)
        self._positions: dict[str, dict[tuple[str, int], int]] = {}
        self._consumed: dict[str, int] = {}
        self._lock = threading.Lock()
        self.last_error: str | None = None
        """Why the latest measurement failed (None after a good one)."""
        self.failed_groups: dict[str, str] = {}
        """Groups the latest measurement could not measure, with the reason."""

    @classmethod
    def for_cluster(cls, client: ClientConfig, interval_seconds: float) -> LagHistory:
        """A sampler of every ``ecombus.*`` group on the cluster ``client`` reaches (no I/O yet)."""
        reader = OldestMessageReader(client, timeout=MEASURE_TIMEOUT_SECONDS)
        measure = functools.partial(measure_lag, AdminClient(dict(client)), reader,
                                    timeout=MEASURE_TIMEOUT_SECONDS)
        return cls(measure, interval_seconds)

    def run(self, stop: threading.Event) -> None:
        """Sample every interval until ``stop`` is set (an assembly part)."""
        log.info("sampling consumer-group lag every %gs for the flow page", self.interval)
        while not stop.is_set():
            self.sample()
            stop.wait(self.interval)

    def sample(self) -> Sample | None:
        """Measure once, keep the sample and drop those older than the window; None on failure."""
        try:
            report = self.measure()
        except TransientError as exc:
            self.last_error = str(exc)
            log.warning("lag not measured: %s", exc)
            return None
        now = self.clock()
        with self._lock:
            sample = Sample(now, {g.group: self._group_sample(g) for g in report.groups
                                  if not g.group.startswith(NOT_SERVICES)})
            for gone in set(self._positions) - set(sample.groups) - set(report.failed):
                del self._positions[gone], self._consumed[gone]
            self._samples.append(sample)
            while self._samples and self._samples[0].at < now - self.window:
                self._samples.popleft()
        self.last_error, self.failed_groups = None, dict(report.failed)
        return sample

    def samples(self) -> list[Sample]:
        """The kept samples, oldest first."""
        with self._lock:
            return list(self._samples)

    def drains(self, recent_seconds: float = RECENT_SECONDS) -> list[Drain]:
        """Every group of the newest sample with its trend and time to drain, by group name."""
        samples = self.samples()
        groups = sorted(samples[-1].groups) if samples else []
        return [d for g in groups if (d := drain(g, samples, recent_seconds)) is not None]

    def chart(self) -> dict[str, Any]:
        """:func:`chart` of the kept samples."""
        return chart(self.samples(), self.interval)

    def _group_sample(self, group: GroupLag) -> GroupSample:
        positions = {(p.topic, p.partition): p.position for p in group.partitions}
        before = self._positions.get(group.group, {})
        moved = sum(max(0, at - before[tp]) for tp, at in positions.items() if tp in before)
        self._positions[group.group] = positions
        consumed = self._consumed[group.group] = self._consumed.get(group.group, 0) + moved
        # the oldest unconsumed message known (a partition whose message was not read in time
        # does not count, so the age is at least this)
        ages = [p.lag_seconds for p in group.partitions if p.lag and p.lag_seconds is not None]
        oldest = max(ages) if ages else (0.0 if group.lag == 0 else None)
        return GroupSample(group.lag, oldest, consumed, group.state, group.members)
