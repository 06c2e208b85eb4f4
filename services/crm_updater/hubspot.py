"""The CRM's contacts batch upsert (HubSpot CRM v3), kept under its rolling rate limit.

:meth:`HubSpotContacts.upsert` sends at most 100 inputs (email as id, ``idProperty: email``,
every property value a string) and returns the contacts the CRM rejected, with its reason:

* 200: every input written;
* 207: some inputs rejected (``errors[].context.ids`` names them), the others written;
* another 4xx: the CRM refused the whole batch; it is split in halves and each half sent again,
  until the inputs it refuses are isolated, so one bad contact never sinks its batch;
* 429, 5xx, timeouts: :class:`~bus.errors.TransientError` for the caller to retry (the upsert is
  idempotent, so resending a half-written batch is harmless).

:class:`RollingWindow` spaces the requests so that no ``interval`` seconds ever hold more than
``limit`` of them (HubSpot's ``TEN_SECONDLY_ROLLING`` policy).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bus.errors import PermanentError
from bus.http import ApiClient

UPSERT_PATH = "/crm/v3/objects/contacts/batch/upsert"
MAX_BATCH = 100


class RollingWindow:
    """At most ``limit`` calls in any ``interval`` seconds; :meth:`acquire` waits for a slot."""

    def __init__(self, limit: int, interval: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.limit, self.interval = limit, interval
        self._clock, self._sleep = clock, sleep
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take a slot, waiting as long as needed; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._calls and self._calls[0] <= now - self.interval:
                    self._calls.popleft()
                if len(self._calls) < self.limit:
                    self._calls.append(now)
                    return waited
                wait = self._calls[0] + self.interval - now
            self._sleep(wait)
            waited += wait


@dataclass
class UpsertResult:
    """What one :meth:`HubSpotContacts.upsert` achieved."""

    written: int = 0
    requests: int = 0
    rejected: dict[str, str] = field(default_factory=dict)
    """email as sent → the CRM's reason."""


class HubSpotContacts:
    """Contacts batch upsert through ``api`` (an :class:`~bus.http.ApiClient` without retries)."""

    def __init__(self, api: ApiClient, limiter: RollingWindow) -> None:
        self.api = api
        self.limiter = limiter

    def upsert(self, inputs: list[dict[str, Any]]) -> UpsertResult:
        """Upsert ``inputs``; see the module docstring for the outcomes.

        Raises:
            TransientError: throttled, server error or timeout (nothing is known to be rejected).
        """
        if len(inputs) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} inputs per batch, got {len(inputs)}")
        result = UpsertResult()
        self._send(inputs, result)
        return result

    def _send(self, inputs: list[dict[str, Any]], result: UpsertResult) -> None:
        self.limiter.acquire()
        result.requests += 1
        try:
            response = self.api.request("POST", UPSERT_PATH, json={"inputs": inputs}, retry=None)
        except PermanentError as exc:
            if len(inputs) == 1:
                result.rejected[inputs[0]["id"]] = str(exc)
                return
            half = len(inputs) // 2
            self._send(inputs[:half], result)
            self._send(inputs[half:], result)
            return
        body = response.json()
        refused = _rejected_ids(body)
        sent = {item["id"].lower(): item["id"] for item in inputs}
        for email, reason in refused.items():
            result.rejected[sent.get(email.lower(), email)] = reason
        result.written += len(inputs) - len(refused)


def _rejected_ids(body: Any) -> dict[str, str]:
    """email → reason for every input a 207 body reports as failed."""
    rejected: dict[str, str] = {}
    errors = body.get("errors") if isinstance(body, dict) else None
    for error in errors or []:
        context = error.get("context") or {}
        ids = context.get("ids") or context.get("id") or []
        for email in [ids] if isinstance(ids, str) else ids:
            rejected[email] = f"{error.get('category', 'ERROR')}: {error.get('message', '')}"
    return rejected
