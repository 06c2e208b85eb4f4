"""measure_lag against a fake cluster: definitions, idle/empty groups, failures."""

from __future__ import annotations

import pytest

from bus.errors import TransientError
from bus.observability.lag import GroupLag, PartitionLag, measure_lag
from tests.unit.observability.fakes import FakeCluster, FakeTimestamps, State

NOW = 1_700_000_100.0  # seconds; message timestamps below are milliseconds


@pytest.fixture
def cluster() -> FakeCluster:
    cluster = FakeCluster()
    # orders: p0 offsets 0..99 (msg 40 written 60 s before NOW), p1 offsets 10..50 (retention ate 0..9)
    cluster.topic("orders.placed.v1", (0, 100), (10, 50),
                  ts={0: {40: 1_700_000_040_000, 99: 1_700_000_099_000}, 1: {10: 1_700_000_000_000}})
    return cluster


def measure(cluster: FakeCluster, reader: FakeTimestamps | None = None, **kwargs) -> dict[str, GroupLag]:
    report = measure_lag(cluster, reader or FakeTimestamps(cluster), now=lambda: NOW, **kwargs)
    assert not report.failed
    return {g.group: g for g in report.groups}


def row(group: GroupLag, partition: int) -> PartitionLag:
    return next(p for p in group.partitions if p.partition == partition)


def test_lag_is_high_watermark_minus_committed_and_seconds_the_age_of_the_message_there(cluster) -> None:
    cluster.group("ecombus.inventory-sync",
                  committed={("orders.placed.v1", 0): 40, ("orders.placed.v1", 1): 50},
                  members=[[("orders.placed.v1", 0), ("orders.placed.v1", 1)]])
    group = measure(cluster)["ecombus.inventory-sync"]
    assert (group.state, group.members, group.lag) == ("stable", 1, 60)
    assert row(group, 0) == PartitionLag(
        "ecombus.inventory-sync", "orders.placed.v1", 0,
        committed=40, low=0, high=100, lag=60, lag_seconds=60.0)
    assert row(group, 1).lag == 0 and row(group, 1).lag_seconds == 0.0  # caught up: 0, not missing


def test_a_partition_without_a_commit_counts_from_the_low_watermark(cluster) -> None:
    cluster.group("ecombus.crm-updater", committed={("orders.placed.v1", 0): 99},
                  members=[[("orders.placed.v1", 0), ("orders.placed.v1", 1)]])
    group = measure(cluster)["ecombus.crm-updater"]
    assert row(group, 1).committed is None
    assert (row(group, 1).lag, row(group, 1).lag_seconds) == (40, 100.0)  # 50 - 10, age of offset 10
    assert (row(group, 0).lag, row(group, 0).lag_seconds) == (1, 1.0)


def test_a_member_without_any_commit_is_reported_with_the_whole_topic_as_lag(cluster) -> None:
    cluster.group("ecombus.new", members=[[("orders.placed.v1", 0), ("orders.placed.v1", 1)]])
    group = measure(cluster)["ecombus.new"]
    assert [(p.partition, p.committed, p.lag) for p in group.partitions] == [(0, None, 100), (1, None, 40)]


def test_a_group_with_no_members_and_no_commits_is_still_reported(cluster) -> None:
    cluster.group("ecombus.idle", state=State.EMPTY)
    assert measure(cluster)["ecombus.idle"] == GroupLag("ecombus.idle", "empty", 0, ())


def test_a_caught_up_group_whose_consumers_died_reports_zero_without_reading_messages(cluster) -> None:
    cluster.group("ecombus.done", committed={("orders.placed.v1", 0): 100, ("orders.placed.v1", 1): 50},
                  state=State.EMPTY)
    reader = FakeTimestamps(cluster)
    group = measure(cluster, reader)["ecombus.done"]
    assert [(p.lag, p.lag_seconds) for p in group.partitions] == [(0, 0.0), (0, 0.0)]
    assert reader.asked == [set()]


def test_a_commit_below_the_low_watermark_counts_only_retained_messages(cluster) -> None:
    cluster.group("ecombus.slow", committed={("orders.placed.v1", 1): 3})
    p1 = row(measure(cluster)["ecombus.slow"], 1)
    assert (p1.committed, p1.position, p1.lag, p1.lag_seconds) == (3, 10, 40, 100.0)


def test_only_transaction_markers_left_gives_lag_one_and_zero_seconds(cluster) -> None:
    cluster.topic("txn.out.v1", (0, 6), ts={0: {0: 1, 2: 2, 4: 3}})  # 5 is a commit marker
    cluster.group("ecombus.eos", committed={("txn.out.v1", 0): 5})
    p0 = row(measure(cluster)["ecombus.eos"], 0)
    assert (p0.lag, p0.lag_seconds) == (1, 0.0)


def test_seconds_never_go_negative_and_are_none_only_when_unreadable(cluster) -> None:
    cluster.topic("future.v1", (0, 2), ts={0: {0: int((NOW + 30) * 1000)}})
    cluster.group("ecombus.skew", committed={("future.v1", 0): 0, ("orders.placed.v1", 0): 40,
                                             ("orders.placed.v1", 1): 50})
    reader = FakeTimestamps(cluster, unanswered=[("orders.placed.v1", 0)])
    group = measure(cluster, reader)["ecombus.skew"]
    seconds = {(p.topic, p.partition): p.lag_seconds for p in group.partitions}
    assert seconds == {("future.v1", 0): 0.0, ("orders.placed.v1", 0): None, ("orders.placed.v1", 1): 0.0}


def test_two_groups_at_the_same_position_ask_for_the_message_once(cluster) -> None:
    for name in ("ecombus.a", "ecombus.b"):
        cluster.group(name, committed={("orders.placed.v1", 0): 40, ("orders.placed.v1", 1): 50})
    reader = FakeTimestamps(cluster)
    measure(cluster, reader)
    assert reader.asked == [{("orders.placed.v1", 0, 40)}]
    assert cluster.offset_requests == 2  # earliest + latest, batched over every partition


def test_prefix_selects_groups_and_named_groups_are_added(cluster) -> None:
    cluster.group("ecombus.one", committed={("orders.placed.v1", 0): 100})
    cluster.group("analytics", committed={("orders.placed.v1", 0): 0})
    cluster.group("other.team", committed={("orders.placed.v1", 0): 0})
    assert list(measure(cluster)) == ["ecombus.one"]
    assert list(measure(cluster, groups=["analytics"])) == ["analytics", "ecombus.one"]
    assert list(measure(cluster, prefix=None, groups=["other.team"])) == ["other.team"]
    assert measure(cluster, prefix="nobody.") == {}


def test_a_named_group_that_does_not_exist_is_reported_dead_and_empty(cluster) -> None:
    assert measure(cluster, prefix=None, groups=["ecombus.ghost"])["ecombus.ghost"] == GroupLag(
        "ecombus.ghost", "dead", 0, ())


def test_commits_on_a_deleted_topic_are_ignored(cluster) -> None:
    cluster.group("ecombus.x", committed={("gone.v1", 0): 5, ("orders.placed.v1", 0): 100})
    assert {p.topic for p in measure(cluster)["ecombus.x"].partitions} == {"orders.placed.v1"}


def test_a_group_whose_offsets_cannot_be_read_is_listed_as_failed_and_others_still_measured(cluster) -> None:
    cluster.group("ecombus.broken", offsets_error=True)
    cluster.group("ecombus.fine", committed={("orders.placed.v1", 0): 100})
    report = measure_lag(cluster, FakeTimestamps(cluster), now=lambda: NOW)
    assert [g.group for g in report.groups] == ["ecombus.fine"]
    assert list(report.failed) == ["ecombus.broken"]


def test_an_unreachable_cluster_is_a_transient_error(cluster) -> None:
    cluster.down = True
    with pytest.raises(TransientError, match="cannot measure consumer-group lag"):
        measure_lag(cluster, FakeTimestamps(cluster))
