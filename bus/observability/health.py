"""Liveness and readiness of one service, as ``/healthz`` and ``/readyz`` report them.

*Liveness* means the service's loops are still turning: each loop calls :meth:`Health.beat` with
its own part name on every iteration, and the service is alive while every part's last beat is
younger than ``stale_after`` seconds. Kubernetes restarts a pod one of whose loops is stuck, which
a merely open HTTP port would not reveal, nor would another loop of the same process that still
turns (order-capture's webhook edge beats every second; its intake stage may be stuck meanwhile).

*Readiness* means every registered check passes (broker reachable, partitions assigned, registry
reachable, ...). A check is a callable returning ``True`` when ready; returning ``False`` or
raising makes it fail, and the exception text becomes the reason shown by ``/readyz``.

The clock is injectable so tests need no sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Check = Callable[[], bool]

DEFAULT_STALE_AFTER_S = 60.0


@dataclass(frozen=True)
class Status:
    """The answer to a liveness or readiness question.

    Attributes:
        ok: healthy / ready.
        reasons: for each failing item, why (empty when ok).
    """

    ok: bool
    reasons: dict[str, str] = field(default_factory=dict)


class Health:
    """Heartbeat and readiness checks of one service; safe to use from several threads.

    Args:
        stale_after: seconds without a beat after which the service counts as not alive.
        clock: monotonic clock in seconds (``time.monotonic`` by default; a fake in tests).
    """

    def __init__(
        self, stale_after: float = DEFAULT_STALE_AFTER_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stale_after = stale_after
        self._clock = clock
        self._lock = threading.Lock()
        self._beats: dict[str, float] = {}
        self._checks: dict[str, Check] = {}

    def beat(self, part: str = "loop") -> None:
        """Record that the loop called ``part`` made progress; call once per loop iteration. A
        part that beat once must go on beating: the service is not alive while it is silent."""
        with self._lock:
            self._beats[part] = self._clock()

    def add_check(self, name: str, check: Check) -> None:
        """Register (or replace) the readiness check called ``name``."""
        with self._lock:
            self._checks[name] = check

    def liveness(self) -> Status:
        """Alive while every part's last beat is at most ``stale_after`` seconds old; a silent
        part is named with how long it has been silent."""
        with self._lock:
            beats = dict(self._beats)
        if not beats:
            return Status(False, {"loop": "the loop has not started yet"})
        now = self._clock()
        silent = {part: f"no heartbeat for {now - last:.1f}s (bound {self.stale_after:g}s)"
                  for part, last in sorted(beats.items()) if now - last > self.stale_after}
        return Status(not silent, silent)

    def readiness(self) -> Status:
        """Ready when every check returns True; a failing or raising check is named with why."""
        with self._lock:
            checks = dict(self._checks)
        reasons: dict[str, str] = {}
        for name, check in checks.items():
            try:
                if not check():
                    reasons[name] = "not ready"
            except Exception as exc:
                reasons[name] = f"{type(exc).__name__}: {exc}"
        return Status(not reasons, reasons)
