"""`ecombus topics apply` is idempotent and reports drift."""

from __future__ import annotations

import uuid
from pathlib import Path

from click.testing import CliRunner
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from bus.tools.cli import main


def test_apply_twice_creates_once_then_reports_drift(kafka_bootstrap: str, tmp_path: Path) -> None:
    prefix = f"test.apply.{uuid.uuid4().hex[:8]}"
    path = tmp_path / "topics.yaml"
    path.write_text(
        "defaults:\n  partitions: 2\n  config:\n    retention.ms: '3600000'\n"
        f"topics:\n  - name: {prefix}.orders.v1\n  - name: {prefix}.audit.v1\n    partitions: 1\n"
        "    config:\n      cleanup.policy: compact\n"
    )
    args = ["topics", "apply", "--file", str(path), "--bootstrap-servers", kafka_bootstrap]
    runner = CliRunner()

    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    assert first.output.count("created ") == 2
    topics = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=30).topics
    assert len(topics[f"{prefix}.orders.v1"].partitions) == 2

    second = runner.invoke(main, args)
    assert second.exit_code == 0, second.output
    assert "0 created, 2 unchanged, 0 drift" in second.output

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    resource = ConfigResource(ResourceType.TOPIC, f"{prefix}.orders.v1", incremental_configs=[
        ConfigEntry("retention.ms", "60000", incremental_operation=AlterConfigOpType.SET)])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)
    third = runner.invoke(main, args)
    assert third.exit_code == 1
    assert f"{prefix}.orders.v1: retention.ms=60000 in the cluster, 3600000 in the file" in third.output
