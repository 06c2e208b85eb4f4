"""What a replay produces for a dead letter, and the Replayer: acknowledgements, failures, audit, rate."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from fastavro import parse_schema
from fastavro.validation import validate

from bus.contracts import default_schema_set
from bus.errors import ConfigError
from bus.ops.replay import Position, Replayer, audit_record, plan
from bus.runtime.audit import AUDIT_TOPIC
from bus.runtime.codec import JsonCodec
from bus.runtime.dlq import REPLAY_FOR, REPLAYED_FROM
from bus.runtime.handlers import Consumed
from bus.runtime.rate import TokenBucket
from tests.unit.console.fakes import RecordingProducer, dead_letter


def names(headers: list[tuple[str, bytes]]) -> list[str]:
    return [name for name, _ in headers]


def test_a_replay_carries_the_original_and_says_where_from_who_and_for_whom() -> None:
    record = dead_letter("router", 4, "orders.placed.v1", b"v", key=b"k", route="to-erp", headers=[
        ("traceparent", b"t"), (REPLAYED_FROM, b"dlq.router/0/1"), (REPLAY_FOR, b"router")])
    replay = plan(record, "ana")
    assert (replay.topic, replay.key, replay.value, replay.timestamp) == ("orders.placed.v1", b"k", b"v",
                                                                          record.timestamp_ms)
    assert replay.headers == [("traceparent", b"t"), ("ecombus.replayed.from", b"dlq.router/0/4"),
                              ("ecombus.replayed.by", b"ana"), ("ecombus.replay.for", b"router"),
                              ("ecombus.replay.route", b"to-erp")], "an earlier replay's headers are replaced"
    edited = plan(record, "ana", value=b"new", edited=True)
    assert edited.value == b"new" and ("ecombus.edited.by", b"ana") in edited.headers
    elsewhere = plan(record, "ana", to="orders.retry.v1")
    assert elsewhere.topic == "orders.retry.v1" and REPLAY_FOR not in names(elsewhere.headers)


def test_a_dead_letter_that_does_not_say_where_it_came_from_needs_a_topic() -> None:
    bare = Consumed("dlq.router", 0, 3, None, b"v", [], None)
    with pytest.raises(ConfigError, match=r"dlq\.router/0/3"):
        plan(bare, "ana")
    assert plan(bare, "ana", to="x.v1").service == "router"


def test_positions_are_written_and_read_as_topic_partition_offset() -> None:
    assert str(Position.parse(" dlq.crm-updater/2/17 ")) == "dlq.crm-updater/2/17"
    with pytest.raises(ConfigError):
        Position.parse("dlq.crm-updater/2")


def test_the_audit_record_is_a_valid_processing_record_with_the_actor() -> None:
    replay = plan(dead_letter("crm-updater", 5, "customers.profiles.v1", b"{}"), "ana")
    replay = replace(replay, order_id="o-1", correlation_id="c-1", event_id="e-1")
    record = audit_record(replay, "ana", "replay", now=1_749_000_000.0, seconds=0.2)
    schema = parse_schema(json.loads(default_schema_set().schema_json("ProcessingRecord")))
    assert validate(record, schema)
    assert (record["outcome"], record["actor"], record["service"], record["order_id"]) == (
        "REPLAYED", "ana", "console", "o-1")
    assert (record["topic"], record["partition"], record["offset"]) == ("dlq.crm-updater", 0, 5)
    assert record["meta"]["correlation_id"] == "c-1" and record["event_id"] == "e-1"
    again = audit_record(replay, "ana", "replay", now=1_749_000_060.0)
    assert again["meta"]["event_id"] != record["meta"]["event_id"], "each replay is its own record"


def replays(count: int) -> list[Any]:
    return [plan(dead_letter("crm-updater", i, "customers.profiles.v1", b"{}"), "ana") for i in range(count)]


def test_only_acknowledged_replays_are_audited_and_reported_replayed() -> None:
    producer = RecordingProducer()
    done: list[Position] = []
    progress = Replayer(producer, JsonCodec()).run(replays(2), "ana",
                                                   on_replayed=lambda r: done.append(r.source))
    assert (progress.sent, len(progress.acknowledged), progress.audited, progress.error) == (2, 2, 2, None)
    assert len(producer.to(AUDIT_TOPIC)) == 2 and len(done) == 2
    failing = RecordingProducer(failing=("customers.profiles.v1",))
    progress = Replayer(failing, JsonCodec()).run(replays(2), "ana",
                                                  on_replayed=lambda r: done.append(r.source))
    assert len(progress.failed) == 2 and progress.acknowledged == [] and failing.to(AUDIT_TOPIC) == []
    assert len(done) == 2, "a failed replay is never reported as replayed"


def test_an_unreadable_dead_letter_stops_the_run_but_what_was_replayed_is_still_audited() -> None:
    def broken() -> Any:
        yield from replays(1)
        raise ConfigError("no __connect.errors.topic header")

    producer = RecordingProducer()
    progress = Replayer(producer, JsonCodec()).run(broken(), "ana")
    assert progress.error and "stopped after 1 record" in progress.error
    assert isinstance(progress.stopped_by, ConfigError) and progress.audited == 1


def test_the_bucket_paces_the_replays() -> None:
    now = [10.0]
    bucket = TokenBucket(4.0, 1, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    producer = RecordingProducer(clock=lambda: now[0])
    Replayer(producer, None, bucket=bucket).run(replays(3), "ana")
    assert [r["at"] for r in producer.records] == pytest.approx([10.0, 10.25, 10.5])
    assert producer.to(AUDIT_TOPIC) == [], "no audit codec, no audit records"
