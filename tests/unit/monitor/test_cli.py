"""``ecombus lag`` with a fake cluster (``ecombus run``: tests/unit/test_plugins.py)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bus.tools.cli import lag as lag_cli
from bus.tools.cli import main
from tests.unit.observability.fakes import FakeCluster, FakeTimestamps, State


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    cluster = FakeCluster()
    cluster.topic("orders.placed.v1", (0, 100), (0, 10), ts={0: {40: 1_000}})
    cluster.group("ecombus.inventory-sync",
                  committed={("orders.placed.v1", 0): 40, ("orders.placed.v1", 1): 10},
                  members=[[("orders.placed.v1", 0), ("orders.placed.v1", 1)]])
    cluster.group("ecombus.idle", state=State.EMPTY)
    cluster.group("analytics", committed={("orders.placed.v1", 1): 4})
    monkeypatch.setattr(lag_cli, "AdminClient", lambda config: cluster)
    monkeypatch.setattr(lag_cli, "OldestMessageReader", lambda config, timeout: FakeTimestamps(cluster))
    return cluster


def test_lag_prints_a_table_with_every_matching_group(cluster: FakeCluster) -> None:
    result = CliRunner().invoke(main, ["lag"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["GROUP", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "LAG", "SECONDS"]
    assert lines[1].split() == ["ecombus.idle", "-", "-", "-", "-", "0", "0"]
    assert lines[2].split()[:6] == ["ecombus.inventory-sync", "orders.placed.v1", "0", "40", "100", "60"]
    assert float(lines[2].split()[6]) > 0
    assert lines[3].split() == ["ecombus.inventory-sync", "orders.placed.v1", "1", "10", "10", "0", "0.0"]
    assert "analytics" not in result.output


def test_lag_json_with_named_groups_only(cluster: FakeCluster) -> None:
    result = CliRunner().invoke(main, ["lag", "--prefix", "", "--group", "analytics", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [g["group"] for g in data["groups"]] == ["analytics"]
    p0, p1 = data["groups"][0]["partitions"]  # p0: no commit, so counted from the low watermark
    assert (p0["partition"], p0["committed"], p0["high"], p0["lag"]) == (0, None, 100, 100)
    assert (p1["partition"], p1["committed"], p1["high"], p1["lag"]) == (1, 4, 10, 6)


def test_lag_reports_an_unreachable_cluster_as_an_error_line(cluster: FakeCluster) -> None:
    cluster.down = True
    result = CliRunner().invoke(main, ["lag"])
    assert result.exit_code == 2
    assert "error: cannot measure consumer-group lag" in result.output

