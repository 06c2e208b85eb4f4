"""OldestMessageReader with a fake consumer: first readable message, EOF, rounds, timeouts."""

from __future__ import annotations

from typing import Any

from confluent_kafka import TIMESTAMP_CREATE_TIME, KafkaError, TopicPartition

from bus.observability.oldest_message import PROBE_GROUP_ID, OldestMessageReader


class Msg:
    def __init__(self, topic: str, partition: int, offset: int = -1, ts: int = 0, eof: bool = False) -> None:
        self._t, self._p, self._o, self._ts, self._eof = topic, partition, offset, ts, eof

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def error(self) -> KafkaError | None:
        return KafkaError(KafkaError._PARTITION_EOF) if self._eof else None

    def timestamp(self) -> tuple[int, int]:
        return TIMESTAMP_CREATE_TIME, self._ts


class FakeConsumer:
    """Partitions as {(topic, partition): {offset: ts}}; silent partitions never answer."""

    def __init__(self, data: dict[tuple[str, int], dict[int, int]], silent: set[tuple[str, int]]) -> None:
        self.data, self.silent = data, silent
        self.position: dict[tuple[str, int], int] = {}
        self.paused: set[tuple[str, int]] = set()
        self.assignments: list[list[tuple[str, int, int]]] = []
        self.closed = False

    def assign(self, tps: list[TopicPartition]) -> None:
        self.assignments.append([(tp.topic, tp.partition, tp.offset) for tp in tps])
        self.position = {(tp.topic, tp.partition): tp.offset for tp in tps}
        self.paused = set()

    def consume(self, num_messages: int, timeout: float) -> list[Msg]:
        out = []
        for tp, position in self.position.items():
            if tp in self.paused or tp in self.silent:
                continue
            later = sorted(o for o in self.data[tp] if o >= position)
            out.append(Msg(*tp, later[0], self.data[tp][later[0]]) if later else Msg(*tp, eof=True))
        return out

    def pause(self, tps: list[TopicPartition]) -> None:
        self.paused |= {(tp.topic, tp.partition) for tp in tps}

    def unassign(self) -> None:
        self.position = {}

    def close(self) -> None:
        self.closed = True


def reader_with(data: dict, silent: set | None = None) -> tuple[OldestMessageReader, list[Any]]:
    made: list[Any] = []

    def factory(config: dict[str, Any]) -> FakeConsumer:
        assert config["group.id"] == PROBE_GROUP_ID and config["enable.auto.commit"] is False
        made.append(FakeConsumer(data, silent or set()))
        return made[-1]

    return OldestMessageReader({"bootstrap.servers": "x:1"}, timeout=0.2, consumer_factory=factory), made


def test_reads_the_first_message_at_or_after_each_position() -> None:
    reader, made = reader_with({("t", 0): {5: 5000, 6: 6000}, ("t", 1): {9: 9000}})
    assert reader.read([("t", 0, 5), ("t", 1, 7)]) == {("t", 0, 5): 5000, ("t", 1, 7): 9000}
    assert made[0].closed


def test_end_of_partition_without_a_message_answers_none() -> None:
    reader, _ = reader_with({("t", 0): {}})
    assert reader.read([("t", 0, 3)]) == {("t", 0, 3): None}


def test_several_positions_on_one_partition_are_read_in_rounds_with_one_consumer() -> None:
    reader, made = reader_with({("t", 0): {1: 100, 7: 700}})
    assert reader.read([("t", 0, 1), ("t", 0, 7)]) == {("t", 0, 1): 100, ("t", 0, 7): 700}
    assert len(made) == 1 and [len(a) for a in made[0].assignments] == [1, 1]


def test_a_partition_that_does_not_answer_in_time_is_left_out() -> None:
    reader, _ = reader_with({("t", 0): {1: 100}, ("t", 1): {1: 100}}, silent={("t", 1)})
    assert reader.read([("t", 0, 1), ("t", 1, 1)]) == {("t", 0, 1): 100}


def test_nothing_to_read_creates_no_consumer() -> None:
    reader, made = reader_with({})
    assert reader.read([]) == {} and made == []
