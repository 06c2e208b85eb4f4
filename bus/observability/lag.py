"""Consumer-group lag in messages and in seconds, measured from outside the groups.

Only the admin API and a short-lived assign-only consumer are used, so the measurement needs no
membership in the group and keeps working when the group's consumers are dead: a dead consumer's
lag keeps rising, which is exactly what must page someone.

Definitions, per group / topic / partition:

* **Partitions measured**: every partition of every topic the group has a committed offset on,
  plus every partition of every topic its members are currently assigned. A group with members
  but no commit yet is therefore reported; a group with neither members nor commits is reported
  with no partitions (and its member count, 0).
* **position** = the committed offset, or the low watermark when the group has no commit for the
  partition (it will start from the oldest retained message), and never below the low watermark
  (messages deleted by retention cannot be consumed any more).
* **lag** (messages) = ``max(0, high watermark - position)``. A group without a commit therefore
  has ``lag = high - low``. Under ``read_committed`` a caught-up partition whose last record is a
  transaction commit marker shows lag 1: the marker occupies an offset but is never delivered.
* **lag_seconds** = now - timestamp of the first readable message at or after ``position``, read
  by :class:`~bus.observability.oldest_message.OldestMessageReader`; 0 when ``lag`` is 0 or when
  nothing readable remains (the marker case above); never negative (producer clocks ahead of
  ours count as 0). ``None`` only when lag > 0 and the message could not be read in time.

Caught-up and idle groups report 0, never NaN, -1 or nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec

from bus.errors import TransientError
from bus.observability.oldest_message import Position

log = logging.getLogger(__name__)

TP = tuple[str, int]
"""(topic, partition)."""
Committed = dict[TP, int | None]
"""A group's committed offsets; None where the partition has no commit."""

DEFAULT_GROUP_PREFIX = "ecombus."
DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class PartitionLag:
    """The lag of one group on one partition (see the module docstring for definitions)."""

    group: str
    topic: str
    partition: int
    committed: int | None
    low: int
    high: int
    lag: int
    lag_seconds: float | None

    @property
    def position(self) -> int:
        """Where the group resumes: the committed offset, else the low watermark; never below it."""
        return self.low if self.committed is None else max(self.committed, self.low)


@dataclass(frozen=True)
class GroupLag:
    """One consumer group: its state, member count and per-partition lag."""

    group: str
    state: str
    members: int
    partitions: tuple[PartitionLag, ...] = ()

    @property
    def lag(self) -> int:
        """Total lag in messages over all partitions."""
        return sum(p.lag for p in self.partitions)


@dataclass(frozen=True)
class LagReport:
    """The result of one measurement.

    Attributes:
        groups: every measured group, sorted by name.
        failed: groups that could not be measured this time, with the reason.
    """

    groups: tuple[GroupLag, ...]
    failed: dict[str, str] = field(default_factory=dict)


class TimestampReader(Protocol):
    """What :func:`measure_lag` needs to learn message ages (OldestMessageReader or a fake)."""

    def read(self, positions: Iterable[Position]) -> dict[Position, int | None]: ...


def measure_lag(
    admin: Any,
    timestamps: TimestampReader,
    *,
    prefix: str | None = DEFAULT_GROUP_PREFIX,
    groups: Iterable[str] = (),
    now: Callable[[], float] = time.time,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> LagReport:
    """Measure the lag of every group whose id starts with ``prefix``, plus the named ``groups``.

    Args:
        admin: a confluent-kafka ``AdminClient`` (or a fake with the same methods).
        timestamps: reads the timestamps of the oldest unconsumed messages.
        prefix: group id prefix to select (``None`` selects only the named groups).
        groups: group ids to measure whether or not they match the prefix.
        now: wall clock in seconds since the epoch (message timestamps are wall-clock).
        timeout: seconds for each admin request.

    Raises:
        TransientError: the cluster could not be asked (unreachable, timed out).
    """
    try:
        ids = _group_ids(admin, prefix, groups, timeout)
        if not ids:
            return LagReport(())
        described = _describe(admin, ids, timeout)
        committed, failed = _committed(admin, ids, timeout)
        topics = {tp[0] for offsets in committed.values() for tp in offsets}
        topics |= {tp[0] for _, _, assigned in described.values() for tp in assigned}
        partitions = _partitions(admin, topics, timeout)
        low = _offsets(admin, partitions, OffsetSpec.earliest(), timeout)
        high = _offsets(admin, partitions, OffsetSpec.latest(), timeout)
    except (KafkaException, TimeoutError) as exc:
        raise TransientError(f"cannot measure consumer-group lag: {exc or type(exc).__name__}") from exc
    rows: dict[str, list[PartitionLag]] = {}
    for group in ids:
        if group in failed:
            continue
        mine = {tp[0] for tp in committed[group]} | {tp[0] for tp in described[group][2]}
        rows[group] = [_partition_lag(group, tp, committed[group].get(tp), low, high)
                       for tp in partitions if tp[0] in mine and tp in low and tp in high]
    lagging = {(r.topic, r.partition, r.position) for rs in rows.values() for r in rs if r.lag}
    try:
        ages = timestamps.read(lagging)
    except KafkaException as exc:
        log.warning("reading the oldest unconsumed messages: %s", exc)
        ages = {}
    clock = now()
    result = []
    for group, group_rows in rows.items():
        state, members, _ = described[group]
        measured = tuple(_with_age(r, ages, clock) for r in group_rows)
        result.append(GroupLag(group, state, members, measured))
    return LagReport(tuple(result), failed)


def _group_ids(admin: Any, prefix: str | None, named: Iterable[str], timeout: float) -> list[str]:
    listing = admin.list_consumer_groups(request_timeout=timeout).result(timeout=timeout + 5)
    for error in listing.errors or []:
        log.warning("listing consumer groups: %s", error)
    listed = {g.group_id for g in listing.valid or [] if prefix is not None and g.group_id.startswith(prefix)}
    return sorted(listed | set(named))


def _describe(admin: Any, ids: list[str], timeout: float) -> dict[str, tuple[str, int, set[TP]]]:
    """group -> (state, member count, assigned partitions); unknown/0/empty when not describable."""
    out: dict[str, tuple[str, int, set[TP]]] = {}
    for group, future in admin.describe_consumer_groups(ids, request_timeout=timeout).items():
        try:
            desc = future.result(timeout=timeout + 5)
        except (KafkaException, TimeoutError) as exc:
            log.warning("describing consumer group %s: %s", group, exc)
            out[group] = ("unknown", 0, set())
            continue
        assigned = {(tp.topic, tp.partition) for m in desc.members for tp in m.assignment.topic_partitions}
        state = desc.state.name.lower() if getattr(desc, "state", None) is not None else "unknown"
        out[group] = (state, len(desc.members), assigned)
    return out


def _committed(admin: Any, ids: list[str], timeout: float) -> tuple[dict[str, Committed], dict[str, str]]:
    """group -> {(topic, partition): committed offset or None}, plus the groups that failed."""
    futures: dict[str, Future] = {}
    for group in ids:  # the API takes one group per call; the calls run concurrently
        request = [ConsumerGroupTopicPartitions(group)]
        futures.update(admin.list_consumer_group_offsets(request, request_timeout=timeout))
    committed: dict[str, Committed] = {}
    failed: dict[str, str] = {}
    for group, future in futures.items():
        try:
            result = future.result(timeout=timeout + 5)
        except (KafkaException, TimeoutError) as exc:
            failed[group] = str(exc) or type(exc).__name__
            log.warning("committed offsets of consumer group %s: %s", group, exc)
            continue
        committed[group] = {(tp.topic, tp.partition): tp.offset if tp.offset >= 0 else None
                            for tp in result.topic_partitions or [] if tp.error is None}
    return committed, failed


def _partitions(admin: Any, topics: set[str], timeout: float) -> list[TP]:
    """Every partition of the topics that still exist, sorted."""
    if not topics:
        return []
    metadata = admin.list_topics(timeout=timeout).topics
    return sorted((name, p) for name in topics if name in metadata and metadata[name].error is None
                  for p in metadata[name].partitions)


def _offsets(admin: Any, partitions: list[TP], spec: OffsetSpec, timeout: float) -> dict[TP, int]:
    if not partitions:
        return {}
    futures = admin.list_offsets({TopicPartition(t, p): spec for t, p in partitions}, request_timeout=timeout)
    return {(tp.topic, tp.partition): f.result(timeout=timeout + 5).offset for tp, f in futures.items()}


def _partition_lag(
    group: str, tp: TP, committed: int | None, low: dict[TP, int], high: dict[TP, int]
) -> PartitionLag:
    row = PartitionLag(group, tp[0], tp[1], committed, low[tp], high[tp], 0, 0.0)
    return replace(row, lag=max(0, row.high - row.position))


def _with_age(row: PartitionLag, ages: dict[Position, int | None], now: float) -> PartitionLag:
    if row.lag == 0:
        return row
    key = (row.topic, row.partition, row.position)
    if key not in ages:
        return replace(row, lag_seconds=None)
    timestamp = ages[key]
    return replace(row, lag_seconds=0.0 if timestamp is None else max(0.0, now - timestamp / 1000.0))
