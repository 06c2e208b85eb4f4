"""LagExporter: gauges from lag reports, removal of vanished series, errors."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from bus.errors import TransientError
from bus.observability.lag import GroupLag, LagReport, PartitionLag
from services.monitor.handlers import LagExporter


def part(group: str, partition: int, lag: int, seconds: float | None, topic: str = "orders.placed.v1"):
    return PartitionLag(group, topic, partition, committed=0, low=0, high=lag, lag=lag, lag_seconds=seconds)


def report(*groups: GroupLag, failed: dict[str, str] | None = None) -> LagReport:
    return LagReport(groups, failed or {})


@pytest.fixture
def exporter() -> LagExporter:
    return LagExporter(CollectorRegistry(), clock=lambda: 1234.0)


def value(exporter: LagExporter, name: str, **labels: str) -> float | None:
    return exporter.registry.get_sample_value(name, labels)


def lag(exporter: LagExporter, group: str, partition: int, topic: str = "orders.placed.v1") -> float | None:
    return value(exporter, "ecombus_consumergroup_lag", group=group, topic=topic, partition=str(partition))


def lag_s(exporter: LagExporter, group: str, partition: int) -> float | None:
    return value(exporter, "ecombus_consumergroup_lag_seconds", group=group, topic="orders.placed.v1",
                 partition=str(partition))


def test_publishes_lag_seconds_and_members_including_zero_for_idle_groups(exporter) -> None:
    exporter.publish(report(
        GroupLag("ecombus.a", "stable", 2, (part("ecombus.a", 0, 7, 3.5), part("ecombus.a", 1, 0, 0.0))),
        GroupLag("ecombus.idle", "empty", 0, (part("ecombus.idle", 0, 0, 0.0),)),
        GroupLag("ecombus.nothing", "empty", 0, ()),
    ))
    assert (lag(exporter, "ecombus.a", 0), lag_s(exporter, "ecombus.a", 0)) == (7, 3.5)
    assert (lag(exporter, "ecombus.a", 1), lag_s(exporter, "ecombus.a", 1)) == (0, 0)
    assert (lag(exporter, "ecombus.idle", 0), lag_s(exporter, "ecombus.idle", 0)) == (0, 0)
    assert value(exporter, "ecombus_consumergroup_members", group="ecombus.a") == 2
    assert value(exporter, "ecombus_consumergroup_members", group="ecombus.nothing") == 0


def test_series_of_vanished_partitions_and_groups_are_removed(exporter) -> None:
    exporter.publish(report(
        GroupLag("ecombus.a", "stable", 1, (part("ecombus.a", 0, 1, 1.0), part("ecombus.a", 1, 1, 1.0))),
        GroupLag("ecombus.gone", "empty", 0, (part("ecombus.gone", 0, 5, 9.0),)),
    ))
    exporter.publish(report(GroupLag("ecombus.a", "stable", 1, (part("ecombus.a", 0, 2, 2.0),))))
    assert lag(exporter, "ecombus.a", 0) == 2
    assert lag(exporter, "ecombus.a", 1) is None and lag_s(exporter, "ecombus.a", 1) is None
    assert lag(exporter, "ecombus.gone", 0) is None
    assert value(exporter, "ecombus_consumergroup_members", group="ecombus.gone") is None


def test_a_group_that_failed_this_time_keeps_its_series_and_counts_an_error(exporter) -> None:
    exporter.publish(report(GroupLag("ecombus.a", "stable", 1, (part("ecombus.a", 0, 4, 8.0),))))
    exporter.publish(report(failed={"ecombus.a": "timed out"}))
    exporter.publish(report(failed={"ecombus.a": "timed out"}))
    assert (lag(exporter, "ecombus.a", 0), lag_s(exporter, "ecombus.a", 0)) == (4, 8.0)
    assert value(exporter, "ecombus_lag_scrape_errors_total", group="ecombus.a", stage="offsets") == 2
    exporter.publish(report())
    assert lag(exporter, "ecombus.a", 0) is None


def test_an_unreadable_age_keeps_the_previous_value_or_zero(exporter) -> None:
    exporter.publish(report(GroupLag("ecombus.a", "stable", 1, (part("ecombus.a", 0, 4, None),))))
    assert lag_s(exporter, "ecombus.a", 0) == 0
    exporter.publish(report(GroupLag("ecombus.a", "stable", 1, (part("ecombus.a", 0, 4, 6.0),))))
    exporter.publish(report(GroupLag("ecombus.a", "stable", 1, (part("ecombus.a", 0, 5, None),))))
    assert (lag(exporter, "ecombus.a", 0), lag_s(exporter, "ecombus.a", 0)) == (5, 6.0)
    assert value(exporter, "ecombus_lag_scrape_errors_total", group="ecombus.a", stage="timestamp") == 2


def test_poll_counts_outcomes_and_survives_an_unreachable_cluster(exporter) -> None:
    def down() -> LagReport:
        raise TransientError("broker down")

    assert exporter.poll(lambda: report()) is True and exporter.last_ok
    assert exporter.poll(down) is False and not exporter.last_ok
    assert value(exporter, "ecombus_lag_scrapes_total", outcome="ok") == 1
    assert value(exporter, "ecombus_lag_scrapes_total", outcome="error") == 1
    assert value(exporter, "ecombus_lag_scrape_duration_seconds_count") == 2
    assert value(exporter, "ecombus_lag_last_success_timestamp_seconds") == 1234.0
