"""``ecombus schemas`` without a real registry: request order, git mode, show and list."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bus.cli import main
from bus.contracts import TOPIC_EVENTS
from tests.unit.serde.fake_registry import FakeRegistry


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeRegistry:
    registry = FakeRegistry()
    monkeypatch.setattr("bus.cli.schemas._client", lambda _url: registry.client())
    return registry


def test_register_sets_full_transitive_before_registering(fake: FakeRegistry) -> None:
    result = CliRunner().invoke(main, ["schemas", "register"])
    assert result.exit_code == 0, result.output
    calls = [(r.method, r.url.path) for r in fake.requests]
    for topic in TOPIC_EVENTS:
        config = calls.index(("PUT", f"/config/{topic}-value"))
        register = calls.index(("POST", f"/subjects/{topic}-value/versions"))
        assert config < register
    assert set(fake.config.values()) == {"FULL_TRANSITIVE"}


def test_registry_unreachable_is_a_clear_error(fake: FakeRegistry) -> None:
    fake.fail_with = 503
    result = CliRunner().invoke(main, ["schemas", "register"])
    assert result.exit_code == 2
    assert "error: schema registry answered 503" in result.output


def test_check_against_git_needs_no_registry() -> None:
    result = CliRunner().invoke(main, ["schemas", "check", "--against-git", "HEAD",
                                       "--registry-url", "http://127.0.0.1:9"])
    assert result.exit_code == 0, result.output
    assert "FULL_TRANSITIVE" in result.output or "nothing to compare" in result.output


def test_check_against_an_unknown_ref_fails_clearly() -> None:
    result = CliRunner().invoke(main, ["schemas", "check", "--against-git", "no-such-ref-xyz"])
    assert result.exit_code == 2 and "not a commit" in result.output


def test_check_against_git_auto_without_history_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bus.cli.schemas.previous_release", lambda: None)
    result = CliRunner().invoke(main, ["schemas", "check", "--against-git", "auto"])
    assert result.exit_code == 0
    assert "no previous release; nothing to compare" in result.output


def test_show_and_list() -> None:
    shown = CliRunner().invoke(main, ["schemas", "show", "orders.placed.v1"])
    assert json.loads(shown.output)["name"] == "OrderPlaced"
    listed = CliRunner().invoke(main, ["schemas", "list"])
    assert "inventory.reservations.v1-value" in listed.output and "StockReservation" in listed.output
