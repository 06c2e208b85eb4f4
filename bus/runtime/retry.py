"""Bounded retries for transient failures: exponential backoff with jitter, Retry-After honoured.

Only :class:`~bus.errors.TransientError` is retried; anything else propagates at once (a
permanent error or a bug goes to the DLQ without wasting the budget). The budget bounds both the
number of attempts and the total time, so a poison message never blocks its partition longer than
``budget_seconds`` plus one attempt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_exponential_jitter

from bus.errors import TransientError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up on a transient failure.

    Attributes:
        max_attempts: attempts in total, the first included.
        initial_backoff: seconds before the second attempt (doubles each time, plus jitter).
        max_backoff: upper bound of one wait; a larger Retry-After is capped to it.
        budget_seconds: no new attempt starts after this many seconds since the first failure.
        jitter: seconds of random jitter added to each exponential wait.
    """

    max_attempts: int = 5
    initial_backoff: float = 0.2
    max_backoff: float = 10.0
    budget_seconds: float = 30.0
    jitter: float = 0.2

    @classmethod
    def until_budget(cls, budget_seconds: float, max_backoff: float = 30.0) -> RetryPolicy:
        """Attempts bounded by time alone (``budget_seconds``), waits up to ``max_backoff``: what a
        sink worker pushing to a downstream API uses, so an outage is waited out, not counted."""
        return cls(max_attempts=1_000_000, max_backoff=max_backoff, budget_seconds=budget_seconds)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return float(min(max(exc.retry_after, 0.0), self.max_backoff))
        backoff = wait_exponential_jitter(multiplier=self.initial_backoff, max=self.max_backoff,
                                          jitter=self.jitter)
        return float(backoff(state))

    def call(
        self,
        fn: Callable[[], T],
        *,
        on_retry: Callable[[int, BaseException], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> T:
        """Call ``fn`` until it succeeds, fails permanently, or the budget is spent.

        Args:
            fn: the work; raise TransientError to ask for another attempt.
            on_retry: called with (attempt number that failed, its exception) before each wait.
            sleep: injectable for tests.

        Raises:
            The last exception when attempts or budget run out, or any non-transient exception.
        """

        def before_sleep(state: RetryCallState) -> None:
            if on_retry and state.outcome is not None:
                exc = state.outcome.exception()
                if exc is not None:
                    on_retry(state.attempt_number, exc)

        try:  # the fast path: most calls succeed at once and need no retry machinery
            return fn()
        except TransientError as exc:
            first_failure: list[BaseException] = [exc]

        def again() -> T:
            if first_failure:  # attempt 1 already ran: report its failure to tenacity
                raise first_failure.pop()
            return fn()

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts) | stop_after_delay(self.budget_seconds),
            wait=self._wait,
            retry=retry_if_exception_type(TransientError),
            before_sleep=before_sleep,
            sleep=sleep,
            reraise=True,
        )
        return retrying(again)
