"""A fake Kafka cluster behind the AdminClient methods the lag measurement calls.

Answers like confluent-kafka 2.16 does: futures, ``ListConsumerGroupsResult``-like listings,
``ConsumerGroupDescription``-like descriptions, ``ConsumerGroupTopicPartitions`` with
``OFFSET_INVALID`` (-1001) for partitions without a commit, ``ListOffsetsResultInfo``-like offsets.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import Enum
from types import SimpleNamespace
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec

OFFSET_INVALID = -1001


class State(Enum):
    STABLE = 3
    EMPTY = 5
    DEAD = 4


def done(value: Any = None, error: Exception | None = None) -> Future:
    future: Future = Future()
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
    return future


@dataclass
class FakeGroup:
    committed: dict[tuple[str, int], int] = field(default_factory=dict)
    members: list[list[tuple[str, int]]] = field(default_factory=list)
    state: State = State.STABLE
    offsets_error: bool = False


class FakeCluster:
    """Topics with watermarks and message timestamps, and consumer groups with commits/members."""

    def __init__(self) -> None:
        self.topics: dict[str, list[tuple[int, int]]] = {}
        self.groups: dict[str, FakeGroup] = {}
        self.timestamps: dict[tuple[str, int], dict[int, int]] = {}
        self.down = False
        self.offset_requests = 0

    def topic(
        self, name: str, *watermarks: tuple[int, int], ts: dict[int, dict[int, int]] | None = None
    ) -> None:
        """Create a topic: (low, high) per partition; ts maps partition -> {offset: timestamp ms}."""
        self.topics[name] = list(watermarks)
        for partition, stamps in (ts or {}).items():
            self.timestamps[(name, partition)] = stamps

    def group(self, group_id: str, **kwargs: Any) -> FakeGroup:
        self.groups[group_id] = FakeGroup(**kwargs)
        return self.groups[group_id]

    # --- AdminClient surface -------------------------------------------------------------
    def list_consumer_groups(self, **_: Any) -> Future:
        if self.down:
            return done(error=KafkaException(KafkaError(KafkaError._TRANSPORT, "broker down")))
        listings = [SimpleNamespace(group_id=g) for g, grp in self.groups.items() if grp.state != State.DEAD]
        return done(SimpleNamespace(valid=listings, errors=[]))

    def describe_consumer_groups(self, ids: list[str], **_: Any) -> dict[str, Future]:
        out = {}
        for gid in ids:
            grp = self.groups.get(gid, FakeGroup(state=State.DEAD))
            members = [SimpleNamespace(assignment=SimpleNamespace(
                topic_partitions=[TopicPartition(t, p) for t, p in m])) for m in grp.members]
            out[gid] = done(SimpleNamespace(group_id=gid, members=members, state=grp.state))
        return out

    def list_consumer_group_offsets(self, request: list[Any], **_: Any) -> dict[str, Future]:
        assert len(request) == 1, "the API takes one group per call"
        gid = request[0].group_id
        grp = self.groups.get(gid, FakeGroup(state=State.DEAD))
        if grp.offsets_error:
            return {gid: done(error=KafkaException(KafkaError(KafkaError.REQUEST_TIMED_OUT)))}
        tps = [TopicPartition(t, p, o) for (t, p), o in grp.committed.items()]
        for m in grp.members:  # assigned but never committed: OFFSET_INVALID, as the broker answers
            tps += [TopicPartition(t, p, OFFSET_INVALID) for t, p in m if (t, p) not in grp.committed]
        return {gid: done(SimpleNamespace(group_id=gid, topic_partitions=tps))}

    def list_topics(self, **_: Any) -> Any:
        return SimpleNamespace(topics={
            name: SimpleNamespace(error=None, partitions={p: None for p in range(len(wm))})
            for name, wm in self.topics.items()})

    def list_offsets(
        self, request: dict[TopicPartition, OffsetSpec], **_: Any
    ) -> dict[TopicPartition, Future]:
        self.offset_requests += 1
        out = {}
        for tp, spec in request.items():
            low, high = self.topics[tp.topic][tp.partition]
            value = low if spec is OffsetSpec.earliest() else high
            out[tp] = done(SimpleNamespace(offset=value, timestamp=-1, leader_epoch=None))
        return out


class FakeTimestamps:
    """Answers like OldestMessageReader from the cluster's message timestamps."""

    def __init__(self, cluster: FakeCluster, unanswered: Iterable[tuple[str, int]] = ()) -> None:
        self.cluster = cluster
        self.unanswered = set(unanswered)
        self.asked: list[set[tuple[str, int, int]]] = []

    def read(self, positions: Iterable[tuple[str, int, int]]) -> dict[tuple[str, int, int], int | None]:
        wanted = set(positions)
        self.asked.append(wanted)
        out: dict[tuple[str, int, int], int | None] = {}
        for topic, partition, offset in wanted:
            if (topic, partition) in self.unanswered:
                continue
            stamps = self.cluster.timestamps.get((topic, partition), {})
            readable = sorted(o for o in stamps if o >= offset)
            out[(topic, partition, offset)] = stamps[readable[0]] if readable else None
        return out
