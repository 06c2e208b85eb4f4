"""``ecombus dlq replay``: who replays (``--as``, else $USER) reaches the headers and audit records."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from bus.ops.dlq import ReplayReport
from bus.tools.cli import dlq as command


@pytest.mark.parametrize("args, actor", [([], "operator-on-call"), (["--as", "ana"], "ana")])
def test_the_replay_command_names_who_replays(monkeypatch: pytest.MonkeyPatch, args: list[str],
                                              actor: str) -> None:
    calls: list[dict[str, Any]] = []

    def replay(client: Any, service: str, filters: Any, to: Any, **kwargs: Any) -> ReplayReport:
        calls.append({"service": service, **kwargs})
        return ReplayReport(replayed=2)

    monkeypatch.setattr(command.dlq_ops, "replay", replay)
    monkeypatch.setattr(command, "default_codec", lambda: "avro codec")
    monkeypatch.setenv("USER", "operator-on-call")
    result = CliRunner().invoke(command.dlq_group, ["replay", "crm-updater", *args])
    assert result.exit_code == 0, result.output
    assert f"{actor} replayed 2" in result.output
    assert [(c["service"], c["actor"], c["audit"]) for c in calls] == [("crm-updater", actor, "avro codec")]
