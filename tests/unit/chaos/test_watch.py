"""The cluster watch keeps the latest readings of its child and every group a client was seen in."""

from __future__ import annotations

from simulators.chaos.watch import ClusterWatch


def test_readings_are_kept_and_a_failed_one_keeps_the_previous() -> None:
    watch = ClusterWatch("127.0.0.1:1")
    assert watch.groups() == (0.0, {}) and watch.replication() == (0.0, None)
    watch._take({"groups_at": 10.0, "under_replicated_at": 10.0, "under_replicated": 3,
                 "groups": {"ecombus.router": [True, [["router-1", 6]]],
                            "ecombus.order-capture.intake": [False, [["order-capture-1", 3],
                                                                     ["order-capture-2", 0]]]}})
    watch._take({"groups_at": 11.0, "under_replicated_at": 11.0, "under_replicated": None,
                 "groups": {"ecombus.router": [False, []]}})
    assert watch.replication() == (10.0, 3), "the failed reading of the partitions keeps the previous one"
    assert watch.groups() == (11.0, {"ecombus.router": (False, [])})
    assert watch.known("router-1") == {"ecombus.router"}, "seen once is enough"
    assert watch.known("order-capture-2") == {"ecombus.order-capture.intake"}
