"""Rate limits: one token bucket, shared by whatever must not go faster than a given pace.

Used by the router's ``http_out`` endpoints (an API's request rate) and by replays of dead
letters (the console, so that putting ten thousand records back never floods their consumers).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """At most ``burst`` calls at once, refilled at ``per_second``; :meth:`take` waits.

    Thread-safe: every caller of one bucket shares its rate (waiting callers queue on its lock).

    Args:
        per_second: tokens added per second (the sustained rate).
        burst: tokens the bucket holds at most (and starts with).
        clock / sleep: injectable monotonic clock and sleep (tests).
    """

    def __init__(self, per_second: float, burst: int = 1, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("a token bucket needs per_second > 0 and burst >= 1")
        self.rate, self.burst = per_second, burst
        self._tokens, self._last = float(burst), clock()
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()

    def take(self) -> None:
        """Take one token, sleeping until one is there."""
        with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                self._sleep((1 - self._tokens) / self.rate)
