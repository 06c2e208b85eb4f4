"""``ecombus schemas`` without a real registry: request order, git mode, show and list."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bus.contracts import TOPIC_EVENTS, SchemaSet, read_schema_files
from bus.tools.cli import main
from tests.unit.serde.fake_registry import FakeRegistry


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeRegistry:
    registry = FakeRegistry()
    monkeypatch.setattr("bus.tools.cli.schemas._client", lambda _url: registry.client())
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
    monkeypatch.setattr("bus.tools.cli.schemas.previous_releases", lambda: ([], "every v* tag"))
    result = CliRunner().invoke(main, ["schemas", "check", "--against-git", "auto"])
    assert result.exit_code == 0
    assert "no earlier schemas/ (every v* tag: 0 found); nothing to compare" in result.output


def test_check_against_git_auto_fails_on_any_earlier_version(monkeypatch: pytest.MonkeyPatch) -> None:
    files = read_schema_files()
    order = json.loads(files["OrderPlaced.avsc"])
    order["fields"].append({"name": "gift", "type": "string", "doc": "required in that version"})
    older = SchemaSet.from_files({**files, "OrderPlaced.avsc": json.dumps(order)})
    versions = {"v2": SchemaSet.from_files(files), "v1": older}
    monkeypatch.setattr("bus.tools.cli.schemas.previous_releases", lambda: (["v2", "v1"], "every v* tag"))
    monkeypatch.setattr("bus.tools.cli.schemas.schemas_at", versions.get)
    result = CliRunner().invoke(main, ["schemas", "check", "--against-git", "auto"])
    assert result.exit_code == 1, result.output
    assert "2 earlier version(s) (every v* tag: v2, v1)" in result.output
    assert "OrderPlaced" in result.output and "gift" in result.output and "v1" in result.output


def test_show_and_list() -> None:
    shown = CliRunner().invoke(main, ["schemas", "show", "orders.placed.v1"])
    assert json.loads(shown.output)["name"] == "OrderPlaced"
    listed = CliRunner().invoke(main, ["schemas", "list"])
    assert "inventory.reservations.v1-value" in listed.output and "StockReservation" in listed.output
