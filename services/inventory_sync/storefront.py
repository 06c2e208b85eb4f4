"""The storefront's inventory API (Shopify admin REST 2024-10), within its leaky bucket.

:meth:`StorefrontInventory.set_available` sets the absolute ``available`` of one inventory item
at one location (``POST inventory_levels/set.json``): absolute, so sending it twice, or after
newer values were coalesced away, is harmless. Outcomes follow :class:`bus.http.ApiClient`:
429 (with ``Retry-After``), 5xx and timeouts raise :class:`~bus.errors.TransientError`, other
4xx :class:`~bus.errors.PermanentError`.

:class:`LeakyBucket` mirrors Shopify's limit on our side (40 calls, draining 2 per second by
default) so that calls wait for room instead of drawing 429s; every answer's
``X-Shopify-Shop-Api-Call-Limit: used/capacity`` resets our level to the shop's own count.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bus.errors import TransientError
from bus.http import ApiClient

API = "/admin/api/2024-10"
CALL_LIMIT_HEADER = "X-Shopify-Shop-Api-Call-Limit"


class LeakyBucket:
    """Client-side copy of the shop's leaky bucket; :meth:`acquire` waits for room."""

    def __init__(self, capacity: int = 40, leak_per_second: float = 2.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.capacity, self.leak_per_second = capacity, leak_per_second
        self._clock, self._sleep = clock, sleep
        self._level = 0.0
        self._at = clock()
        self._lock = threading.Lock()

    def _drain(self) -> float:
        now = self._clock()
        self._level = max(0.0, self._level - (now - self._at) * self.leak_per_second)
        self._at = now
        return self._level

    def acquire(self) -> float:
        """Add one call, waiting until it fits; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                level = self._drain()
                if level + 1 <= self.capacity:
                    self._level = level + 1
                    return waited
                wait = (level + 1 - self.capacity) / self.leak_per_second
            self._sleep(wait)
            waited += wait

    def observe(self, header: str | None) -> None:
        """Take the shop's ``used/capacity`` as the truth (another client may share the bucket)."""
        try:
            used, capacity = (int(x) for x in (header or "").split("/"))
        except ValueError:
            return
        with self._lock:
            self._drain()
            self.capacity, self._level = capacity, float(used)


class StorefrontInventory:
    """Inventory levels through ``api`` (an :class:`~bus.http.ApiClient` without retries)."""

    def __init__(self, api: ApiClient, bucket: LeakyBucket) -> None:
        self.api = api
        self.bucket = bucket
        self.calls = 0

    def set_available(self, inventory_item_id: int, location_id: int, available: int) -> None:
        """Set the absolute available quantity of one item at one location.

        Raises:
            TransientError: throttled (``retry_after`` from ``Retry-After``), 5xx or timeout.
            PermanentError: the storefront refused it (unknown item or location, bad value).
        """
        self.bucket.acquire()
        self.calls += 1
        body = {"location_id": location_id, "inventory_item_id": inventory_item_id, "available": available}
        try:
            response = self.api.request("POST", f"{API}/inventory_levels/set.json", json=body, retry=None)
        except TransientError as exc:
            if exc.retry_after is not None:  # throttled: the shop's bucket is full
                self.bucket.observe(f"{self.bucket.capacity}/{self.bucket.capacity}")
            raise
        self.bucket.observe(response.headers.get(CALL_LIMIT_HEADER))
