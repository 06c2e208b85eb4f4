"""The coalescing sink: newest entry per key, size/weight and linger triggers, inputs released only
once written or set aside, a permanent failure sets aside only its entry; and the topic loop around it."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge

from bus.errors import PermanentError, TransientError
from bus.runtime.dlq import header_dict
from bus.runtime.handlers import Consumed
from bus.sinks import CoalescingBatch, Feed, SetAside, Sink, TopicSink
from tests.unit.runtime.fakes import FakeProducer

TOPIC = "shop.things.outbox"


def _record(key: str, value: str = "", offset: int = 0) -> Consumed:
    return Consumed(TOPIC, 0, offset, key.encode(), value.encode(), [("traceparent", b"00-1")],
                    1_700_000_000_000)


class FakeWriter:
    """Writes batches into ``written``; ``transient`` failures raise first, ``rejects`` are set aside."""

    def __init__(self, transient: int = 0, rejects: frozenset[str] = frozenset()) -> None:
        self.transient, self.rejects = transient, rejects
        self.calls: list[dict[str, Consumed]] = []
        self.written: list[Consumed] = []

    def __call__(self, batch: Mapping[str, Consumed]) -> list[SetAside[Consumed]]:
        self.calls.append(dict(batch))
        if self.transient:
            self.transient -= 1
            raise TransientError("the target is down")
        self.written += [r for k, r in batch.items() if k not in self.rejects]
        return [SetAside(r, PermanentError(f"{k} refused"), 1, 0.0)
                for k, r in batch.items() if k in self.rejects]


class Ledger:
    """Records what was set aside and released, in order."""

    def __init__(self, acknowledge: bool = True) -> None:
        self.acknowledge = acknowledge
        self.set_aside: list[list[SetAside[Consumed]]] = []
        self.released: list[dict[str, Consumed]] = []

    def put(self, failures: Any) -> None:
        self.set_aside.append(list(failures))
        if not self.acknowledge:
            raise TransientError("dead letters not acknowledged")

    def release(self, batch: Mapping[str, Consumed]) -> None:
        self.released.append(dict(batch))


def _sink(writer: FakeWriter, ledger: Ledger, size: int | None = 10,
          linger: float | None = None) -> Sink[str, Consumed]:
    return Sink(writer, size=size, linger=linger, set_aside=ledger.put, release=ledger.release)


def test_the_batch_keeps_the_newest_record_per_key_and_is_due_by_size_or_time() -> None:
    now = [0.0]
    batch: CoalescingBatch[str, Consumed] = CoalescingBatch(size=3, linger=1.0, clock=lambda: now[0])
    assert not batch.due()
    assert not batch.add("a", _record("a", "1", 0))
    assert batch.add("a", _record("a", "2", 1)), "replaced: coalesced"
    batch.add("b", _record("b", "1", 2))
    assert (len(batch), batch.coalesced, batch.due()) == (2, 1, False)
    now[0] = 1.0
    assert batch.due(), "the first record has waited the linger time"
    batch.add("c", _record("c", "1", 3))
    taken = batch.entries()
    assert [r.offset for r in taken.values()] == [1, 2, 3], "newest value, in the keys' first-arrival order"
    batch.clear()
    assert len(batch) == 0 and not batch.due()
    for i in range(3):
        batch.add(str(i), _record(str(i), "", i))
    assert batch.full() and batch.due(), "full"


def test_linger_counts_from_the_oldest_entry_and_none_turns_a_trigger_off() -> None:
    now = [100.0]
    batch: CoalescingBatch[str, int] = CoalescingBatch(size=None, linger=5.0, clock=lambda: now[0])
    batch.add("a", 1)
    now[0] = 104.0
    batch.add("b", 2)
    batch.add("a", 3)  # a newer value does not restart the wait
    for i in range(1000):
        batch.add(f"k{i}", i)
    assert not batch.full() and not batch.due(), "no size trigger"
    now[0] = 105.0
    assert batch.due()
    by_size: CoalescingBatch[str, int] = CoalescingBatch(size=2, linger=None, clock=lambda: now[0])
    by_size.add("a", 1)
    now[0] = 10_000.0
    assert not by_size.due(), "no time trigger"


def test_full_is_by_weight_and_a_replaced_entry_is_weighed_again() -> None:
    batch: CoalescingBatch[int, list[str]] = CoalescingBatch(size=5, linger=None, weight=len)
    batch.add(1, ["r1", "r2"])
    batch.add(2, ["r3", "r4"])
    assert not batch.full()
    batch.add(2, ["r3", "r4", "r5"])
    assert batch.full(), "2 + 3 rows"
    batch.add(2, ["r3"])
    assert not batch.full(), "the old entry's weight was taken off"


def test_inputs_are_released_only_after_the_writer_succeeded() -> None:
    writer, ledger = FakeWriter(transient=2), Ledger()
    sink = _sink(writer, ledger)
    sink.add("a", _record("a", "1", 0))
    sink.add("a", _record("a", "2", 1))
    sink.add("b", _record("b", "1", 2))
    for _ in range(2):
        with pytest.raises(TransientError):
            sink.flush()
        assert ledger.released == [] and len(sink) == 2, "kept, unreleased"
    sink.add("c", _record("c", "1", 3))  # arrives while the target is down: goes out with the rest
    out = sink.flush()
    assert [r.offset for r in writer.written] == [1, 2, 3]
    assert [[r.offset for r in call.values()] for call in writer.calls] == [[1, 2], [1, 2], [1, 2, 3]]
    assert ledger.released == [out] and list(out) == ["a", "b", "c"]
    assert ledger.set_aside == [[]], "set_aside is told (nothing) before release, so it can acknowledge"
    assert len(sink) == 0 and sink.flush() == {} and len(writer.calls) == 3, "an empty batch is not written"


def test_a_permanent_failure_sets_aside_only_the_failing_entry() -> None:
    writer, ledger = FakeWriter(rejects=frozenset({"bad"})), Ledger()
    sink = _sink(writer, ledger)
    for offset, key in enumerate(["ok1", "bad", "ok2"]):
        sink.add(key, _record(key, "v", offset))
    sink.flush()
    assert [r.offset for r in writer.written] == [0, 2]
    put = [[(f.entry.offset, str(f.error)) for f in failures] for failures in ledger.set_aside]
    assert put == [[(1, "bad refused")]]
    assert [list(b) for b in ledger.released] == [["ok1", "bad", "ok2"]], "the whole batch counts as handled"
    assert len(sink) == 0


def test_nothing_is_released_while_what_was_set_aside_is_not_acknowledged() -> None:
    writer, ledger = FakeWriter(rejects=frozenset({"bad"})), Ledger(acknowledge=False)
    sink = _sink(writer, ledger)
    sink.add("bad", _record("bad"))
    sink.add("ok", _record("ok", offset=1))
    with pytest.raises(TransientError):
        sink.flush()
    assert ledger.released == [] and len(sink) == 2
    ledger.acknowledge = True
    sink.flush()
    assert len(writer.calls) == 2, "the whole batch is written again (writers are idempotent)"
    assert len(ledger.released) == 1 and len(sink) == 0


def test_a_writer_that_sets_entries_aside_needs_somewhere_to_put_them() -> None:
    released: list[Any] = []
    sink: Sink[str, Consumed] = Sink(FakeWriter(rejects=frozenset({"a"})), size=None, linger=None,
                                     release=released.append)
    sink.add("a", _record("a"))
    with pytest.raises(TypeError):
        sink.flush()
    assert released == [] and len(sink) == 1


# -- the topic loop ------------------------------------------------------------------------------


class NotAcknowledging(FakeProducer):
    def flush(self, timeout: float = 30.0) -> int:
        return 1


class Things(TopicSink[str]):
    """A sink user: records keyed by their key, ``skip-*`` keys skipped, writes into a FakeWriter."""

    def __init__(self, writer: FakeWriter, producer: FakeProducer, events: list[str], size: int | None = 2,
                 registry: CollectorRegistry | None = None) -> None:
        registry = registry or CollectorRegistry()
        self.writer, self.events = writer, events
        feed = Feed("things", TOPIC, "g", {}, producer,  # type: ignore[arg-type]
                    sleep=lambda s: events.append(f"sleep {s}"))
        super().__init__(feed,
                         name="things sink", handler="write_things", size=size, linger=None,
                         pending=Gauge("things_pending", "", ["service"], registry=registry).labels("things"),
                         coalesced=Counter("things_coalesced", "", ["service"],
                                           registry=registry).labels("things"))

    def key_of(self, record: Consumed) -> str | None:
        key = (record.key or b"").decode()
        return None if key.startswith("skip-") else key

    def write(self, batch: Mapping[str, Consumed]) -> list[SetAside[Consumed]]:
        try:
            failed = self.writer(batch)
        except TransientError:
            self.events.append("write failed")
            raise
        self.events.append("write " + ",".join(batch))
        return failed


def test_topic_sink_coalesces_skips_and_dead_letters_what_the_writer_set_aside() -> None:
    registry, producer = CollectorRegistry(), FakeProducer()
    things = Things(FakeWriter(rejects=frozenset({"bad"})), producer, [], registry=registry)
    things.add(_record("ok", "1", 10))
    things.add(_record("skip-me", "x", 11))
    things.add(_record("ok", "2", 12))
    things.add(bad := _record("bad", "b", 13))
    assert {k: r.offset for k, r in things.pending.items()} == {"ok": 12, "bad": 13}
    assert registry.get_sample_value("things_coalesced_total", {"service": "things"}) == 1
    things.flush()
    assert things.pending == {}
    assert [(r["topic"], r["key"], r["value"]) for r in producer.records] == [("dlq.things", b"bad", b"b")]
    headers = header_dict(producer.records[0]["headers"])
    assert headers["__connect.errors.offset"] == "13" and headers["__connect.errors.topic"] == TOPIC
    assert headers["ecombus.errors.kind"] == "permanent"
    assert headers["ecombus.errors.handler"] == "write_things"
    assert headers["__connect.errors.class.name"] == f"{__name__}.Things"
    assert headers["traceparent"] == "00-1", "the record's own headers are kept"
    assert bad.value == b"b"


def test_topic_sink_keeps_the_batch_when_dead_letters_are_not_acknowledged() -> None:
    things = Things(FakeWriter(rejects=frozenset({"bad"})), NotAcknowledging(), [])
    things.add(_record("bad"))
    with pytest.raises(TransientError, match="not acknowledged"):
        things.flush()
    assert list(things.pending) == ["bad"]


class FakeMessage:
    def __init__(self, key: str, offset: int) -> None:
        self._key, self._offset = key, offset

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return self._key.encode()

    def value(self) -> bytes:
        return b"v"

    def headers(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_000)


class FakeConsumer:
    """Hands out ``polls`` one per consume call; sets ``stop`` once they are used up."""

    def __init__(self, polls: list[list[FakeMessage]], events: list[str], stop: threading.Event) -> None:
        self.polls, self.events, self.stop = polls, events, stop
        self.config: dict[str, Any] = {}

    def subscribe(self, topics: list[str], on_revoke: Any = None) -> None:
        self.events.append(f"subscribe {','.join(topics)}")

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        if not self.polls:
            self.stop.set()
            return []
        return self.polls.pop(0)

    def commit(self, asynchronous: bool = True) -> None:
        assert not asynchronous
        self.events.append("commit")

    def close(self) -> None:
        self.events.append("close")


def _run(things: Things, polls: list[list[FakeMessage]], monkeypatch: pytest.MonkeyPatch,
         shutdown_timeout: float = 30.0) -> threading.Event:
    stop = threading.Event()
    consumer = FakeConsumer(polls, things.events, stop)

    def make(config: dict[str, Any]) -> FakeConsumer:
        consumer.config = config
        return consumer

    monkeypatch.setattr("bus.sinks.topic.Consumer", make)
    things.run(stop, shutdown_timeout)
    assert consumer.config["isolation.level"] == "read_committed"
    assert (consumer.config["group.id"], consumer.config["enable.auto.commit"]) == ("g", False)
    return stop


def test_the_loop_commits_only_after_the_batch_was_written(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    things = Things(FakeWriter(transient=1), FakeProducer(), events, size=2)
    _run(things, [[FakeMessage("a", 0), FakeMessage("a", 1)], [FakeMessage("b", 2)], [FakeMessage("c", 3)]],
         monkeypatch)
    assert events == ["subscribe " + TOPIC, "write failed", "sleep 1.0", "write a,b", "commit", "write c",
                      "commit", "close"], "full at a,b (a coalesced); c written at shutdown"
    assert [r.offset for r in things.writer.written] == [1, 2, 3]


def test_at_shutdown_it_gives_up_without_committing(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    things = Things(FakeWriter(transient=1_000), FakeProducer(), events, size=None)
    stop = _run(things, [[FakeMessage("a", 0)]], monkeypatch, shutdown_timeout=0.0)
    assert "commit" not in events and events[-1] == "close"
    assert list(things.pending) == ["a"], "resent after the restart"
    assert stop.is_set()


def test_an_unexpected_error_stops_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []

    class Broken(Things):
        def write(self, batch: Mapping[str, Consumed]) -> list[SetAside[Consumed]]:
            raise ValueError("a bug")

    things = Broken(FakeWriter(), FakeProducer(), events, size=1)
    stop = threading.Event()
    consumer = FakeConsumer([[FakeMessage("a", 0)], [FakeMessage("b", 1)]], events, threading.Event())
    monkeypatch.setattr("bus.sinks.topic.Consumer", lambda config: consumer)
    things.run(stop, 1.0)
    assert stop.is_set() and "commit" not in events and events[-1] == "close"
    assert len(consumer.polls) == 1, "stopped at the first batch"


def test_discard_forgets_without_writing_or_releasing_and_full_follows_the_batch() -> None:
    writer, ledger = FakeWriter(), Ledger()
    sink = _sink(writer, ledger, size=2)
    sink.add("a", _record("a"))
    sink.add("b", _record("b", offset=1))
    assert sink.full() and sink.due()
    sink.discard()
    assert not sink.full() and len(sink) == 0 and sink.flush() == {}
    assert writer.calls == [] and ledger.released == []
