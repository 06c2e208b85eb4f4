import os
import subprocess
import sys

import pytest

from bus.errors import ConfigError
from bus.settings import KafkaSettings, RegistrySettings, load
from services.router.settings import RouterSettings


def test_defaults_point_at_the_local_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("SCHEMA_REGISTRY_URL", raising=False)
    assert load(KafkaSettings).bootstrap_servers == "127.0.0.1:9092"
    assert load(RegistrySettings).url == "http://127.0.0.1:8081"


def test_invalid_bootstrap_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,not a host")
    with pytest.raises(ConfigError, match="KAFKA_BOOTSTRAP_SERVERS") as err:
        load(KafkaSettings)
    assert "entry 2 is not host:port" in str(err.value)
    assert "not a host" not in str(err.value), "the value is never quoted"


def test_invalid_security_protocol_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "TLS")
    with pytest.raises(ConfigError, match="KAFKA_SECURITY_PROTOCOL"):
        load(KafkaSettings)


def test_invalid_registry_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", "registry-user:s3cret@localhost:8081")
    with pytest.raises(ConfigError, match="SCHEMA_REGISTRY_URL") as err:
        load(RegistrySettings)
    assert "s3cret" not in str(err.value), "a credential in a bad URL is never quoted"


def test_sasl_and_extra_keys_pass_through_to_librdkafka(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "b-1.example:9096, b-2.example:9096")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "ecombus")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("KAFKA_EXTRA_CONFIG", '{"client.rack": "eu-west-1a"}')
    settings = load(KafkaSettings)
    config = settings.client_config()
    assert config["bootstrap.servers"] == "b-1.example:9096,b-2.example:9096"
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.password"] == "s3cret"
    assert config["client.rack"] == "eu-west-1a"
    assert "s3cret" not in repr(settings)


def test_explicit_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "env-host:9092")
    assert load(KafkaSettings, bootstrap_servers="cli-host:1234").bootstrap_servers == "cli-host:1234"
    assert load(KafkaSettings, bootstrap_servers=None).bootstrap_servers == "env-host:9092"


@pytest.mark.parametrize("value,problem", [
    ("client.rack=eu-west-1a", "KAFKA_EXTRA_CONFIG: not valid JSON (expected a JSON object)"),
    ('{"client.rack": "eu-west-1a"', "KAFKA_EXTRA_CONFIG: not valid JSON (expected a JSON object)"),
    ('["client.rack", "eu-west-1a"]', "KAFKA_EXTRA_CONFIG: Input should be a valid dictionary"),
    ('"eu-west-1a"', "KAFKA_EXTRA_CONFIG: Input should be a valid dictionary"),
    ('{"client.rack": {"zone": "a"}}', "KAFKA_EXTRA_CONFIG: Value error, the value of client.rack is not a"),
])
def test_a_bad_extra_config_is_an_invalid_setting_not_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                                                  value: str, problem: str) -> None:
    monkeypatch.setenv("KAFKA_EXTRA_CONFIG", value)
    with pytest.raises(ConfigError) as err:
        load(KafkaSettings)
    assert str(err.value).startswith(f"invalid settings: {problem}")
    assert "eu-west-1a" not in str(err.value) and "zone" not in str(err.value)


def test_extra_config_takes_numbers_and_booleans_as_librdkafka_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_EXTRA_CONFIG", '{"linger.ms": 5, "enable.ssl.certificate.verification": false, '
                                             '"session.timeout.ms": "6000"}')
    config = load(KafkaSettings).client_config()
    assert (config["linger.ms"], config["enable.ssl.certificate.verification"]) == (5, False)
    assert config["session.timeout.ms"] == "6000"


@pytest.mark.parametrize("value,problem", [("orders.placed.v1=staging.orders", "not valid JSON"),
                                           ('["staging.orders"]', "Input should be a valid dictionary")])
def test_bad_router_topics_are_an_invalid_setting(monkeypatch: pytest.MonkeyPatch, value: str,
                                                  problem: str) -> None:
    monkeypatch.setenv("ECOMBUS_ROUTER_TOPICS", value)
    with pytest.raises(ConfigError, match=f"^invalid settings: ECOMBUS_ROUTER_TOPICS: {problem}"):
        load(RouterSettings)


@pytest.mark.parametrize("variable,service", [("ECOMBUS_ROUTER_TOPICS", "router"),
                                              ("KAFKA_EXTRA_CONFIG", "monitor")])
def test_ecombus_run_reports_a_value_that_is_not_json_in_one_line(variable: str, service: str) -> None:
    env = {**os.environ, variable: "{not json", "ECOMBUS_ADMIN_PORT": "0"}
    done = subprocess.run([sys.executable, "-m", "bus.tools.cli", "run", service], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"error: invalid settings: {variable}: not valid JSON" in done.stderr
    assert "Traceback" not in done.stderr
