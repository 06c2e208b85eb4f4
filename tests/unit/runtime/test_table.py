"""Reading to the end and compacted tables, against a scripted consumer (no broker)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from bus.errors import ConfigError, TransientError
from bus.runtime import table
from bus.runtime.idempotency import ProcessedEvents
from bus.runtime.table import CompactedTable, into_dict, partitions_of, read_to_end
from bus.topics import TopicSpec, ensure_topics
from tests.unit.runtime.fakes import FakeProducer

TOPIC = "bus.table.test.v1"


@dataclass
class Record:
    """A stand-in for confluent_kafka.Message."""

    part: int
    off: int
    k: bytes | None = None
    v: bytes | None = None
    err: KafkaError | None = None

    def partition(self) -> int:
        return self.part

    def offset(self) -> int:
        return self.off

    def key(self) -> bytes | None:
        return self.k

    def value(self) -> bytes | None:
        return self.v

    def error(self) -> KafkaError | None:
        return self.err


def eof(partition: int, offset: int) -> Record:
    return Record(partition, offset, err=KafkaError(KafkaError._PARTITION_EOF))


@dataclass
class ScriptedConsumer:
    """Answers ``consume`` with one scripted batch a call (then nothing); positions are scripted too.

    ``positions[i]`` is what ``position`` reports after the i-th batch (partition → offset).
    """

    watermarks: dict[int, tuple[int, int]]
    batches: list[list[Record]] = field(default_factory=list)
    positions: list[dict[int, int]] = field(default_factory=list)
    watermark_errors: list[KafkaError] = field(default_factory=list)
    metadata_error: KafkaError | None = None
    assigned: list[TopicPartition] = field(default_factory=list)
    calls: int = 0
    closed: bool = False

    def list_topics(self, topic: str, timeout: float) -> Any:
        if self.metadata_error is not None and self.metadata_error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return SimpleNamespace(topics={topic: SimpleNamespace(error=self.metadata_error, partitions={})})
        partitions = {p: object() for p in self.watermarks}
        found = SimpleNamespace(error=self.metadata_error, partitions=partitions)
        return SimpleNamespace(topics={topic: found})

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        if self.watermark_errors:
            raise KafkaException(self.watermark_errors.pop(0))
        return self.watermarks[tp.partition]

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = partitions

    def consume(self, num_messages: int, timeout: float) -> list[Record]:
        self.calls += 1
        return self.batches.pop(0) if self.batches else []

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        now = self.positions[min(self.calls, len(self.positions)) - 1] if self.positions else {}
        return [TopicPartition(tp.topic, tp.partition, now.get(tp.partition, -1001)) for tp in partitions]

    def close(self) -> None:
        self.closed = True


def offsets(records: Any) -> list[tuple[int, int]]:
    return [(r.partition(), r.offset()) for r in records]


def test_reads_every_partition_from_the_beginning_up_to_its_end_as_of_the_call() -> None:
    consumer = ScriptedConsumer(
        watermarks={0: (0, 2), 1: (0, 1), 2: (5, 5)},  # partition 2: nothing to read
        batches=[[Record(0, 0), Record(1, 0)], [Record(0, 1), Record(0, 2)]],  # (0, 2) came later
        positions=[{0: 1, 1: 1}, {0: 3, 1: 1}])
    got = offsets(read_to_end(consumer, TOPIC, timeout=5))  # type: ignore[arg-type]
    assert got == [(0, 0), (1, 0), (0, 1)]
    assert sorted((tp.partition, tp.offset) for tp in consumer.assigned) == [(0, -2), (1, -2), (2, -2)]
    assert not consumer.closed, "a caller's consumer is the caller's to close"


def test_the_position_past_a_transaction_marker_ends_a_partition_without_a_record_there() -> None:
    # offsets 0-1 records, 2 the commit marker: the last record read is 1, the end is 3
    consumer = ScriptedConsumer(watermarks={0: (0, 3)}, batches=[[Record(0, 0), Record(0, 1)]],
                                positions=[{0: 3}])
    assert offsets(read_to_end(consumer, TOPIC, timeout=5)) == [(0, 0), (0, 1)]  # type: ignore[arg-type]
    assert consumer.calls == 1


def test_an_eof_at_or_past_the_end_ends_a_partition_an_eof_before_it_does_not() -> None:
    consumer = ScriptedConsumer(watermarks={0: (0, 4)},
                                batches=[[Record(0, 0), eof(0, 1)], [Record(0, 3), eof(0, 4)]])
    assert offsets(read_to_end(consumer, TOPIC, timeout=5)) == [(0, 0), (0, 3)]  # type: ignore[arg-type]
    assert consumer.calls == 2


def test_start_offsets_are_honoured_and_negative_ones_mean_the_beginning() -> None:
    consumer = ScriptedConsumer(watermarks={0: (0, 10), 1: (0, 4)}, batches=[[Record(0, 8), Record(0, 9)]],
                                positions=[{0: 10}])
    got = offsets(read_to_end(consumer, TOPIC, timeout=5, starts={0: 8, 1: 4}))  # type: ignore[arg-type]
    assert got == [(0, 8), (0, 9)]
    assert sorted((tp.partition, tp.offset) for tp in consumer.assigned) == [(0, 8), (1, 4)]
    consumer = ScriptedConsumer(watermarks={0: (0, 1)}, batches=[[Record(0, 0)]], positions=[{0: 1}])
    assert offsets(read_to_end(consumer, TOPIC, timeout=5, starts={0: -1001})) == [(0, 0)]  # type: ignore[arg-type]
    assert [tp.offset for tp in consumer.assigned] == [-2]


def test_the_deadline_raises_naming_the_topic_and_the_partitions_left_never_a_partial_read() -> None:
    consumer = ScriptedConsumer(watermarks={0: (0, 2), 1: (0, 5), 2: (0, 1)},
                                batches=[[Record(0, 0), Record(0, 1), Record(2, 0)]],
                                positions=[{0: 2, 2: 1, 1: 3}])  # 1 stuck at 3: an open transaction
    read: list[tuple[int, int]] = []
    left = rf"{TOPIC}: not read to its end within 0s \(partitions \[1\] left"
    with pytest.raises(TransientError, match=left):
        for msg in read_to_end(consumer, TOPIC, timeout=0.3):  # type: ignore[arg-type]
            read.append((msg.partition(), msg.offset()))
    assert read == [(0, 0), (0, 1), (2, 0)]  # what came before the error, but the caller is told


def test_the_deadline_error_carries_the_last_consumer_error() -> None:
    consumer = ScriptedConsumer(watermarks={0: (0, 1)},
                                batches=[[Record(0, 0, err=KafkaError(KafkaError._TRANSPORT, "down"))]])
    with pytest.raises(TransientError, match="last error: down"):
        list(read_to_end(consumer, TOPIC, timeout=0.3))  # type: ignore[arg-type]


def test_leader_elections_of_a_new_topic_are_waited_out_other_errors_are_not() -> None:
    consumer = ScriptedConsumer(watermarks={0: (0, 0)}, watermark_errors=[
        KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION), KafkaError(KafkaError.LEADER_NOT_AVAILABLE)])
    assert list(read_to_end(consumer, TOPIC, timeout=5)) == []  # type: ignore[arg-type]
    assert consumer.watermark_errors == []
    consumer = ScriptedConsumer(watermarks={0: (0, 0)},
                                watermark_errors=[KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)])
    with pytest.raises(KafkaException):
        list(read_to_end(consumer, TOPIC, timeout=5))  # type: ignore[arg-type]


def test_a_topic_just_created_by_another_replica_is_waited_for_on_the_asked_broker() -> None:
    # found by the chaos suite: two order-capture replicas starting on a fresh three-broker cluster;
    # one created the cursors topic, the other's broker did not know it yet and the replica exited
    consumer = ScriptedConsumer(watermarks={0: (0, 0)},
                                watermark_errors=[KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)] * 3)
    assert list(read_to_end(consumer, TOPIC, timeout=5)) == []  # type: ignore[arg-type]
    assert consumer.watermark_errors == []


def test_a_broker_lost_during_the_read_is_waited_out_as_an_election_is() -> None:
    # found by the chaos suite: a service restarted while a broker was down crashed in its
    # read-back with _DESTROY_BROKER (librdkafka dropped the dead bootstrap broker's handle)
    lost = [KafkaError(KafkaError._DESTROY_BROKER), KafkaError(KafkaError._TRANSPORT),
            KafkaError(KafkaError._TIMED_OUT), KafkaError(KafkaError._ALL_BROKERS_DOWN),
            KafkaError(KafkaError.OFFSET_NOT_AVAILABLE)]  # a new leader's high watermark not caught up
    consumer = ScriptedConsumer(watermarks={0: (0, 0)}, watermark_errors=lost)
    assert list(read_to_end(consumer, TOPIC, timeout=5)) == []  # type: ignore[arg-type]
    assert consumer.watermark_errors == []


def test_an_election_that_outlasts_the_deadline_is_a_transient_error() -> None:
    consumer = ScriptedConsumer(watermarks={0: (0, 0)},
                                watermark_errors=[KafkaError(KafkaError.LEADER_NOT_AVAILABLE)] * 50)
    with pytest.raises(TransientError, match=f"{TOPIC}: partition 0 had no leader"):
        list(read_to_end(consumer, TOPIC, timeout=0.3))  # type: ignore[arg-type]


def test_a_missing_topic_is_a_config_error_naming_it() -> None:
    consumer = ScriptedConsumer(watermarks={}, metadata_error=KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))
    with pytest.raises(ConfigError, match=f"topic '{TOPIC}' does not exist"):
        partitions_of(consumer, TOPIC)  # type: ignore[arg-type]
    assert partitions_of(ScriptedConsumer(watermarks={2: (0, 0), 0: (0, 0)}), TOPIC) == [0, 2]  # type: ignore[arg-type]


def test_a_table_loads_applies_tombstones_and_writes_through_its_producer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = ScriptedConsumer(watermarks={0: (0, 3), 1: (0, 1)}, batches=[[
        Record(0, 0, b"a", b"1"), Record(1, 0, b"b", b"2"), Record(0, 1, b"a", None),
        Record(0, 2, b"c", b"3"), Record(0, 3, b"d", b"4")]], positions=[{0: 4, 1: 1}])
    monkeypatch.setattr(table, "Consumer", lambda config: consumer)
    state: dict[bytes, bytes] = {}

    def apply(key: bytes | None, value: bytes | None, _msg: Any) -> None:
        assert key is not None
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value

    producer = FakeProducer()
    view = CompactedTable({}, TOPIC, apply, producer=producer)
    view.load(timeout=5, tail=False)
    # a record read past the end is applied too: a tail must not lose what the load fetched
    assert state == {b"b": b"2", b"c": b"3", b"d": b"4"}
    assert view.loaded and view.topic_partitions == [0, 1] and consumer.closed
    assert view.wait_applied(0, 3, timeout=0) and not view.wait_applied(0, 4, timeout=0)
    view.put(b"e", b"5")
    view.tombstone(b"c")
    assert [(r["topic"], r["key"], r["value"]) for r in producer.records] == [
        (TOPIC, b"e", b"5"), (TOPIC, b"c", None)]


def test_a_table_without_a_producer_refuses_to_write() -> None:
    with pytest.raises(RuntimeError, match="no producer"):
        CompactedTable({}, TOPIC, lambda *_: None).put(b"k", b"v")


def test_a_table_that_cannot_reach_the_end_raises_and_closes_its_consumer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = ScriptedConsumer(watermarks={0: (0, 5)}, batches=[[Record(0, 0, b"a", b"1")]],
                                positions=[{0: 1}])
    monkeypatch.setattr(table, "Consumer", lambda config: consumer)
    view = CompactedTable({}, TOPIC, lambda *_: None, partitions=[0])
    with pytest.raises(TransientError, match=r"partitions \[0\] left"):
        view.load(timeout=0.3)
    assert consumer.closed and not view.loaded and not view.tailing


def test_into_dict_decodes_values_deletes_on_tombstones_and_skips_keyless_records() -> None:
    values: dict[str, int] = {}
    apply = into_dict(values, threading.Lock(), int)
    for key, value in [(b"a", b"1"), (b"b", b"2"), (None, b"3"), (b"a", None), (b"b", b"5")]:
        apply(key, value, Record(0, 0, key, value))
    assert values == {"b": 5}


def test_processed_events_past_its_deadline_raise_instead_of_going_ready_with_a_partial_set(
        monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = ScriptedConsumer(watermarks={0: (0, 2), 1: (0, 0), 2: (0, 0)},
                                batches=[[Record(0, 0, b"evt-1", b"1000")]], positions=[{0: 1}])
    monkeypatch.setattr(table, "Consumer", lambda config: consumer)
    monkeypatch.setattr(table, "ensure_topics", lambda *args, **kwargs: [])
    processed = ProcessedEvents({}, "svc", FakeProducer(), clock=lambda: 2.0)  # type: ignore[arg-type]
    with pytest.raises(TransientError, match=r"bus.processed.svc.v1: not read to its end .*\[0\] left"):
        processed.start(timeout=0.3)
    assert consumer.closed


class FakeFuture:
    def __init__(self, error: KafkaError | None) -> None:
        self.error = error

    def result(self, timeout: float) -> None:
        if self.error is not None:
            raise KafkaException(self.error)


@dataclass
class FakeAdmin:
    existing: set[str]
    errors: dict[str, KafkaError] = field(default_factory=dict)
    brokers: int = 1
    created: list[Any] = field(default_factory=list)

    def list_topics(self, timeout: float) -> Any:
        return SimpleNamespace(topics={n: object() for n in self.existing},
                               brokers=dict.fromkeys(range(self.brokers)))

    def create_topics(self, new: list[Any], request_timeout: float) -> dict[str, FakeFuture]:
        self.created += new
        return {t.topic: FakeFuture(self.errors.get(t.topic)) for t in new}


def test_ensure_topics_creates_the_missing_ones_with_their_config_and_min_3_replicas(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECOMBUS_TOPIC_REPLICATION_FACTOR", raising=False)
    admin = FakeAdmin(existing={"a"}, brokers=5)
    specs = [TopicSpec(name="a", partitions=1),
             TopicSpec(name="b", partitions=2, config={"cleanup.policy": "compact"}),
             TopicSpec(name="c", partitions=1, replication_factor=1)]
    assert ensure_topics(admin, specs) == ["b", "c"]  # type: ignore[arg-type]
    assert [(t.topic, t.num_partitions, t.replication_factor, t.config) for t in admin.created] == [
        ("b", 2, 3, {"cleanup.policy": "compact"}), ("c", 1, 1, {})]
    assert ensure_topics(FakeAdmin(existing={"a"}), specs[:1]) == []  # type: ignore[arg-type]


def test_ensure_topics_tells_already_exists_by_its_error_code_not_its_text() -> None:
    raced = FakeAdmin(existing=set(), errors={"b": KafkaError(KafkaError.TOPIC_ALREADY_EXISTS, "whatever")})
    assert ensure_topics(raced, [TopicSpec(name="b", partitions=1)]) == []  # type: ignore[arg-type]
    # the words alone do not count: another error mentioning them still fails
    lying = FakeAdmin(existing=set(),
                      errors={"b": KafkaError(KafkaError.POLICY_VIOLATION, "TOPIC_ALREADY_EXISTS")})
    with pytest.raises(KafkaException):
        ensure_topics(lying, [TopicSpec(name="b", partitions=1)])  # type: ignore[arg-type]
