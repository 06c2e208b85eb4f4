"""``ecombus registry serve``: help and settings errors (no broker needed)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bus.errors import ConfigError
from bus.settings import load
from bus.tools.cli import main
from services.registry.settings import RegistryServerSettings


def test_serve_help_explains_the_options() -> None:
    result = CliRunner().invoke(main, ["registry", "serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--topic", "--bootstrap-servers", "SCHEMA_REGISTRY_URL"):
        assert option in result.output


def test_settings_defaults_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load(RegistryServerSettings)
    assert (defaults.host, defaults.port, defaults.topic) == ("127.0.0.1", 8081, "_schemas")
    monkeypatch.setenv("ECOMBUS_REGISTRY_TOPIC", "_schemas.staging")
    assert load(RegistryServerSettings, port=9999).topic == "_schemas.staging"
    assert load(RegistryServerSettings, port=9999).port == 9999


@pytest.mark.parametrize(("variable", "value"), [("ECOMBUS_REGISTRY_PORT", "eighty"),
                                                 ("ECOMBUS_REGISTRY_TOPIC", "bad topic!")])
def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load(RegistryServerSettings)


def test_serve_with_a_bad_bootstrap_address_fails_with_a_one_line_error() -> None:
    result = CliRunner().invoke(main, ["registry", "serve", "--bootstrap-servers", "not an address"])
    assert result.exit_code == 2
    assert "KAFKA_BOOTSTRAP_SERVERS" in result.output


def test_serve_without_kafka_fails_with_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from bus.tools.local.broker import free_port

    monkeypatch.setenv("ECOMBUS_REGISTRY_TIMEOUT_SECONDS", "2")
    closed = f"127.0.0.1:{free_port()}"
    result = CliRunner().invoke(main, ["registry", "serve", "--port", str(free_port()),
                                       "--bootstrap-servers", closed])
    assert result.exit_code == 2
    assert f"cannot reach Kafka at {closed}" in result.output
