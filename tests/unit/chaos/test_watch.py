"""The cluster watch keeps the latest readings of its child and every group a client was seen in."""

from __future__ import annotations

from types import SimpleNamespace

from confluent_kafka import ConsumerGroupState, KafkaError, KafkaException

from simulators.chaos.watch import ClusterWatch, memberships


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


class _Done:
    def __init__(self, value: object = None, error: Exception | None = None) -> None:
        self.value, self.error = value, error

    def result(self, _timeout: float | None = None) -> object:
        if self.error is not None:
            raise self.error
        return self.value


class _Admin:
    """Lists two groups; describing ``ecombus.crm-updater`` fails (its coordinator moved)."""

    def list_consumer_groups(self, request_timeout: float) -> _Done:
        return _Done(SimpleNamespace(valid=[SimpleNamespace(group_id="ecombus.router"),
                                            SimpleNamespace(group_id="ecombus.crm-updater"),
                                            SimpleNamespace(group_id="someone-else")]))

    def describe_consumer_groups(self, ids: list[str], request_timeout: float) -> dict[str, _Done]:
        if ids == ["ecombus.crm-updater"]:
            return {ids[0]: _Done(error=KafkaException(KafkaError(KafkaError._TIMED_OUT)))}
        member = SimpleNamespace(client_id="router-1",
                                 assignment=SimpleNamespace(topic_partitions=[1, 2, 3]))
        return {ids[0]: _Done(SimpleNamespace(state=ConsumerGroupState.STABLE, members=[member]))}


def test_a_group_that_cannot_be_described_is_left_out_and_named() -> None:
    failed: list[str] = []
    found = memberships(_Admin(), failed=failed)  # type: ignore[arg-type]
    assert found == {"ecombus.router": (True, [("router-1", 3)])}
    assert failed == ["ecombus.crm-updater"], "the child takes a new admin client when one is named"
