"""A console application without Kafka: settings with two accounts, no index, fixed clock."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from fastapi.testclient import TestClient

from services.console.app import create_app
from services.console.context import Console
from services.console.settings import ConsoleSettings

OPERATOR_TOKEN = "operator-token-0123456789"
VIEWER_TOKEN = "viewer-token-0123456789ab"
ACCOUNTS = json.dumps([{"user": "ana", "role": "operator", "token": OPERATOR_TOKEN},
                       {"user": "vic", "role": "viewer", "token": VIEWER_TOKEN}])


def console(**settings: Any) -> Console:
    return Console(ConsoleSettings(**{"tokens": ACCOUNTS, **settings}), client={}, decoder=None,
                   clock=lambda: 1e9)


def client(c: Console | None = None) -> TestClient:
    return TestClient(create_app(c or console()), base_url="http://console.test")


def signed_in(token: str, c: Console | None = None) -> TestClient:
    """A browser-like client that signed in on /login with ``token``."""
    browser = client(c)
    form = browser.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf, "the sign-in form carries a CSRF token"
    answer = browser.post("/login", data={"token": token, "csrf_token": csrf.group(1), "next": "/"},
                          follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
    return browser


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


# -- dead letters (services/console/dead_letters.py) ---------------------------------------------


def dead_letter(service: str, offset: int, original_topic: str, value: bytes | None, *,
                key: bytes | None = b"k", partition: int = 0, original_offset: int = 7,
                error: Exception | None = None, handler: str = "handle", route: str | None = None,
                headers: list[tuple[str, bytes]] | None = None, timestamp_ms: int = 999_990_000_000) -> Any:
    """A record of ``dlq.<service>`` with the headers the runtime writes (:mod:`bus.runtime.dlq`)."""
    from bus.runtime.dlq import STAGE_HANDLER, Failure, dead_letter_headers, dlq_topic
    from bus.runtime.handlers import Consumed

    failure = Failure(service, handler, STAGE_HANDLER, error or ValueError("unknown SKU in line 1"), 1,
                      999_990_000.0, 999_990_000.0, route=route, step="enrich" if route else None)
    written = dead_letter_headers(list(headers or [("traceparent", b"00-abc-01")]), original_topic, 0,
                                  original_offset, failure)
    return Consumed(dlq_topic(service), partition, offset, key, value, written, timestamp_ms)


class RecordStore:
    """The dead-letter topics in memory (a ``RecordReader``); ``advanced`` records replay-group moves."""

    def __init__(self, records: list[Any]) -> None:
        self.records = {(r.topic, r.partition, r.offset): r for r in records}
        self.advanced: list[tuple[str, list[int]]] = []

    def fetch(self, topic: str, offsets: Any) -> dict[tuple[int, int], Any]:
        return {(p, o): self.records[(topic, p, o)] for p, o in offsets if (topic, p, o) in self.records}

    def pending(self, service: str) -> list[Any]:
        from bus.ops.dlq import info_of

        return [info_of(r) for (topic, _, _), r in sorted(self.records.items()) if topic == f"dlq.{service}"]

    def advance(self, service: str, replayed: Any, partitions: Any) -> None:
        self.advanced.append((service, list(partitions)))


class DeadLetterIndex:
    """The journey index's dead-letter part over ``RecordStore`` records (order ids by position)."""

    def __init__(self, store: RecordStore, order_ids: dict[str, str] | None = None) -> None:
        from bus.ops.dlq import info_of

        self.rows = {}
        for (topic, partition, offset), record in store.records.items():
            row = info_of(record)
            self.rows[(topic, partition, offset)] = replace(
                row, order_id=(order_ids or {}).get(f"{topic}/{partition}/{offset}"))
        self.marked: list[tuple[str, int, int, str, int]] = []

    def dead_letter_summary(self) -> list[Any]:
        from types import SimpleNamespace

        groups: dict[tuple[str, str], list[int]] = {}
        for row in self.rows.values():
            if not row.replayed:
                groups.setdefault((row.service, row.reason), []).append(row.at_ms)
        return [SimpleNamespace(service=s, reason=r, pending=len(at), count=len(at),
                                oldest_pending_ms=min(at)) for (s, r), at in sorted(groups.items())]

    def dead_letters(self, service: str | None = None, reason: str | None = None, pending_only: bool = True,
                     limit: int = 100, offset: int = 0) -> list[Any]:
        found = [r for r in self.rows.values() if service in (None, r.service) and reason in (None, r.reason)
                 and not (pending_only and r.replayed)]
        return sorted(found, key=lambda r: (r.at_ms, r.topic, r.partition, r.offset))[offset:offset + limit]

    def dead_letter(self, topic: str, partition: int, offset: int) -> Any:
        return self.rows.get((topic, partition, offset))

    def mark_replayed(self, dlq_topic: str, partition: int, offset: int, by: str, at_ms: int) -> None:
        self.marked.append((dlq_topic, partition, offset, by, at_ms))
        row = self.rows[(dlq_topic, partition, offset)]
        self.rows[(dlq_topic, partition, offset)] = replace(row, replayed=True, replayed_by=by,
                                                            replayed_at_ms=at_ms)

    def stats(self) -> dict[str, int]:
        return {}

    def erp_gap(self, now_ms: int) -> None:
        return None


class RecordingProducer:
    """A BusProducer that keeps what it is given and acknowledges it on ``poll``/``flush`` (or
    fails the topics in ``failing``); ``clock`` stamps each record with the time it was produced."""

    def __init__(self, clock: Any = None, failing: tuple[str, ...] = ()) -> None:
        self.records: list[dict[str, Any]] = []
        self.clock, self.failing = clock, failing
        self._waiting: list[Any] = []

    def produce(self, topic: str, value: bytes | None, key: Any = None, headers: Any = None,
                timestamp: Any = None, on_delivery: Any = None, timeout: Any = None,
                partition: Any = None) -> None:
        self.records.append({"topic": topic, "value": value, "key": key, "headers": list(headers or []),
                             "timestamp": timestamp, "at": self.clock() if self.clock else None})
        self._waiting.append((topic, on_delivery))

    def poll(self, _timeout: float = 0.0) -> int:
        waiting, self._waiting = self._waiting, []
        for topic, callback in waiting:
            if callback is not None:
                callback("induced failure" if topic in self.failing else None, None)
        return len(waiting)

    def flush(self, _timeout: float = 30.0) -> int:
        self.poll()
        return 0

    def to(self, topic: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["topic"] == topic]


def dead_letter_console(records: list[Any], *, indexed: bool = True, decoder: Any = None,
                        order_ids: dict[str, str] | None = None, bucket: Any = None,
                        **settings: Any) -> Console:
    """A console whose dead letters are ``records``: an in-memory reader, index (unless not
    ``indexed``) and producer, audit records in JSON, replay jobs run at once, fixed clock."""
    from bus.runtime.codec import JsonCodec
    from bus.runtime.rate import TokenBucket

    store = RecordStore(records)
    c = console(**settings)
    c.decoder = decoder
    c.index = DeadLetterIndex(store, order_ids) if indexed else None
    c.producer = RecordingProducer()  # type: ignore[assignment]
    c.extras.update({"dead_letters.reader": store, "dead_letters.run": lambda work: work(),
                     "dead_letters.audit_codec": JsonCodec(),
                     "dead_letters.bucket": bucket or TokenBucket(1e9, 1_000_000)})
    return c
