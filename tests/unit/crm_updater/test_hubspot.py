"""The CRM client: rolling rate limit, partial failures, whole-batch rejections split, 429/5xx transient."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bus.errors import TransientError
from bus.http import ApiClient
from services.crm_updater.hubspot import UPSERT_PATH, HubSpotContacts, RollingWindow


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _inputs(*emails: str) -> list[dict[str, Any]]:
    return [{"id": e, "idProperty": "email", "properties": {"email": e}} for e in emails]


def _contacts(handler: Any, limit: int = 100) -> tuple[HubSpotContacts, list[list[str]]]:
    sent: list[list[str]] = []

    def route(request: httpx.Request) -> httpx.Response:
        assert request.url.path == UPSERT_PATH
        ids = [i["id"] for i in json.loads(request.content)["inputs"]]
        sent.append(ids)
        return handler(ids)  # type: ignore[no-any-return]

    api = ApiClient("hubspot", "http://crm.test", transport=httpx.MockTransport(route))
    return HubSpotContacts(api, RollingWindow(limit, 10.0)), sent


def test_rolling_window_never_lets_more_than_limit_through_in_an_interval() -> None:
    fake = FakeTime()
    window = RollingWindow(3, 10.0, clock=fake.clock, sleep=fake.sleep)
    starts = []
    for _ in range(7):
        window.acquire()
        starts.append(fake.now)
        fake.now += 0.5
    assert starts == [0.0, 0.5, 1.0, 10.0, 10.5, 11.0, 20.0]
    for i, start in enumerate(starts):
        assert sum(1 for s in starts if start <= s < start + 10.0) <= 3, i


def test_all_written() -> None:
    contacts, sent = _contacts(lambda ids: httpx.Response(200, json={"status": "COMPLETE", "results": []}))
    result = contacts.upsert(_inputs("a@example.com", "b@example.com"))
    assert (result.written, result.rejected, result.requests) == (2, {}, 1)
    assert sent == [["a@example.com", "b@example.com"]]


def test_partial_failure_names_only_the_rejected_contact() -> None:
    def partial(ids: list[str]) -> httpx.Response:
        return httpx.Response(207, json={"status": "COMPLETE", "results": [{}, {}], "errors": [
            {"category": "VALIDATION_ERROR", "message": "bad email", "context": {"ids": ["B@example.com"]}}]})

    contacts, _ = _contacts(partial)
    result = contacts.upsert(_inputs("a@example.com", "b@example.com", "c@example.com"))
    assert result.written == 2
    assert list(result.rejected) == ["b@example.com"], "mapped back to the id as sent"
    assert "VALIDATION_ERROR" in result.rejected["b@example.com"]


def test_whole_batch_rejection_is_split_until_the_bad_contact_is_isolated() -> None:
    def strict(ids: list[str]) -> httpx.Response:
        if "bad@example.com" in ids:
            return httpx.Response(400, json={"category": "VALIDATION_ERROR", "message": "invalid"})
        return httpx.Response(200, json={"status": "COMPLETE", "results": []})

    contacts, sent = _contacts(strict)
    emails = [f"c{i}@example.com" for i in range(7)] + ["bad@example.com"]
    result = contacts.upsert(_inputs(*emails))
    assert list(result.rejected) == ["bad@example.com"]
    assert result.written == 7
    assert result.requests == len(sent) <= 1 + 2 * 3, "a binary split: a few requests, not one per contact"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_transient(status: int) -> None:
    contacts, _ = _contacts(lambda ids: httpx.Response(status, headers={"Retry-After": "2"},
                                                       json={"errorType": "RATE_LIMIT"}))
    with pytest.raises(TransientError) as caught:
        contacts.upsert(_inputs("a@example.com"))
    assert caught.value.retry_after == 2.0


def test_more_than_100_inputs_is_refused_before_sending() -> None:
    contacts, sent = _contacts(lambda ids: httpx.Response(200, json={}))
    with pytest.raises(ValueError, match="at most 100"):
        contacts.upsert(_inputs(*[f"c{i}@example.com" for i in range(101)]))
    assert sent == []
