"""Shopify's REST rate limit: a leaky bucket (40 requests, draining 2 per second by default).

Every call adds one to the bucket; a call that would overflow it is refused with 429 and a
``Retry-After`` of the seconds until there is room. ``X-Shopify-Shop-Api-Call-Limit: 32/40``
reports the level after the call. The clock is injectable so tests need no sleeping.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    """Whether a call may proceed, the bucket level after it, and when to retry if not."""

    allowed: bool
    used: int
    capacity: int
    retry_after: float = 0.0

    @property
    def header(self) -> str:
        """The ``X-Shopify-Shop-Api-Call-Limit`` value."""
        return f"{self.used}/{self.capacity}"


class LeakyBucket:
    """A thread-safe leaky bucket.

    Args:
        capacity: calls the bucket holds (Shopify: 40; Plus: 80).
        leak_per_second: calls drained per second (Shopify: 2; Plus: 4).
        clock: monotonic seconds.
    """

    def __init__(self, capacity: int = 40, leak_per_second: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity, self.leak_per_second = capacity, leak_per_second
        self._clock = clock
        self._level = 0.0
        self._at = clock()
        self._lock = threading.Lock()

    def reconfigure(self, capacity: int, leak_per_second: float) -> None:
        with self._lock:
            self.capacity, self.leak_per_second = capacity, leak_per_second
            self._level = min(self._level, float(capacity))

    def take(self) -> Decision:
        """Account for one call."""
        with self._lock:
            now = self._clock()
            self._level = max(0.0, self._level - (now - self._at) * self.leak_per_second)
            self._at = now
            if self._level + 1 > self.capacity:
                wait = (self._level + 1 - self.capacity) / self.leak_per_second
                return Decision(False, math.ceil(self._level), self.capacity, wait)
            self._level += 1
            return Decision(True, math.ceil(self._level), self.capacity)
