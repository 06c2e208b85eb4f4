import pytest

from bus.errors import PermanentError, TransientError
from bus.runtime.retry import RetryPolicy


def _failing(times: int, error: Exception) -> tuple[list[int], object]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "done"

    return calls, fn


def test_transient_errors_are_retried_until_success() -> None:
    calls, fn = _failing(3, TransientError("timeout"))
    waits: list[float] = []
    retried: list[int] = []
    policy = RetryPolicy(max_attempts=5, initial_backoff=0.1, max_backoff=1.0, jitter=0.0)
    assert policy.call(fn, sleep=waits.append, on_retry=lambda n, _e: retried.append(n)) == "done"  # type: ignore[arg-type]
    assert len(calls) == 4
    assert retried == [1, 2, 3]
    assert waits == [0.1, 0.2, 0.4]


def test_retry_after_is_honoured_and_capped() -> None:
    _calls, fn = _failing(2, TransientError("429", retry_after=7.0))
    waits: list[float] = []
    RetryPolicy(max_attempts=5, max_backoff=5.0).call(fn, sleep=waits.append)  # type: ignore[arg-type]
    assert waits == [5.0, 5.0]


def test_permanent_errors_are_not_retried() -> None:
    calls, fn = _failing(1, PermanentError("unknown SKU"))
    with pytest.raises(PermanentError):
        RetryPolicy().call(fn, sleep=lambda _s: None)  # type: ignore[arg-type]
    assert len(calls) == 1


def test_attempts_are_bounded() -> None:
    calls, fn = _failing(100, TransientError("down"))
    with pytest.raises(TransientError):
        RetryPolicy(max_attempts=3).call(fn, sleep=lambda _s: None)  # type: ignore[arg-type]
    assert len(calls) == 3
