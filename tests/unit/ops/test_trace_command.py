"""``ecombus trace``: the payment line comes first, then the timeline (no broker: the readers are
replaced by what they would have found)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner

from bus.contracts.examples import examples, order_placed
from bus.ops.payment import derive, fact_of
from bus.ops.trace import Step
from bus.tools.cli import trace as command

ORDER = order_placed().order_id
STEP = Step(at=datetime(2025, 6, 3, 1, 12, 43, tzinfo=UTC), service="router", handler="refunds-to-erp-csv",
            outcome="OK", event_id="shopify:refund:509562969", where="orders.refunds.v1[0]@7",
            duration_seconds=0.004, attempts=1, error=None, dlq_topic=None)


@pytest.fixture
def found(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {"payment": None, "steps": [STEP]}
    monkeypatch.setattr(command, "default_codec", lambda: object())
    monkeypatch.setattr(command, "trace", lambda client, codec, wanted, since: seen["steps"])
    monkeypatch.setattr(command, "payment_of", lambda client, codec, wanted, since: seen["payment"])
    return seen


def test_the_payment_line_is_printed_before_the_timeline(found: dict[str, Any]) -> None:
    found["payment"] = derive([fact_of("OrderPlaced", order_placed().to_avro()),
                               fact_of("OrderRefunded", examples()["OrderRefunded"].to_avro())])
    result = CliRunner().invoke(command.trace_command, [ORDER, "--bootstrap-servers", "127.0.0.1:1"])
    assert result.exit_code == 0, result.output
    first, second = result.output.splitlines()[:2]
    assert first == "payment: partially refunded (19.31 of 38.63 USD refunded; 2875 of 5750 JPY refunded)"
    assert "router" in second and "refunds-to-erp-csv" in second


def test_an_id_without_payment_events_prints_no_payment_line(found: dict[str, Any]) -> None:
    result = CliRunner().invoke(command.trace_command, ["evt-1", "--bootstrap-servers", "127.0.0.1:1"])
    assert result.exit_code == 0 and not result.output.startswith("payment:")
