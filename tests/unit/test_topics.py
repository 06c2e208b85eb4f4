import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from bus.errors import ConfigError
from bus.topics import DEFAULT_TOPICS_FILE, TopicSpec, _drift, load_topics

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def test_every_topic_of_the_architecture_is_declared() -> None:
    declared = {spec.name for spec in load_topics()}
    table = re.findall(r"^\| ([a-z]+\.[a-z]+\.v\d+) \|", ARCHITECTURE.read_text(), re.M)
    assert len(table) >= 8, "no topic rows found in docs/architecture.md"
    assert set(table) <= declared
    for service in ("order-capture", "inventory-sync", "crm-updater", "shipping-tracker", "router"):
        assert f"dlq.{service}" in declared


def test_defaults_merge_into_each_topic() -> None:
    specs = {s.name: s for s in load_topics(DEFAULT_TOPICS_FILE)}
    assert specs["orders.placed.v1"].partitions == 6
    assert specs["orders.placed.v1"].config["retention.ms"] == "2592000000"
    assert specs["orders.review.v1"].config["retention.ms"] == "604800000"
    assert specs["customers.profiles.v1"].config["cleanup.policy"] == "compact"
    assert specs["dlq.router"].partitions == 1


def test_duplicate_topic_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text("topics:\n  - name: a.b.v1\n  - name: a.b.v1\n")
    with pytest.raises(ConfigError, match=r"a\.b\.v1 more than once"):
        load_topics(path)


def test_unknown_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text("topics:\n  - name: a.b.v1\n    partitons: 3\n")
    with pytest.raises(ConfigError, match="partitons"):
        load_topics(path)


def test_drift_reports_partitions_and_configs() -> None:
    spec = TopicSpec(name="a.b.v1", partitions=6, config={"retention.ms": "100", "cleanup.policy": "delete"})
    configs = {"retention.ms": SimpleNamespace(value="200"),
               "cleanup.policy": SimpleNamespace(value="delete")}
    lines = _drift(spec, 3, configs)
    assert lines == [
        "a.b.v1: partitions 3 in the cluster, 6 in the file",
        "a.b.v1: retention.ms=200 in the cluster, 100 in the file",
    ]
    assert _drift(spec, 6, {**configs, "retention.ms": SimpleNamespace(value="100")}) == []
