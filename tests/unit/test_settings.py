import pytest

from bus.errors import ConfigError
from bus.settings import KafkaSettings, RegistrySettings, load


def test_defaults_point_at_the_local_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("SCHEMA_REGISTRY_URL", raising=False)
    assert load(KafkaSettings).bootstrap_servers == "127.0.0.1:9092"
    assert load(RegistrySettings).url == "http://127.0.0.1:8081"


def test_invalid_bootstrap_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,not a host")
    with pytest.raises(ConfigError, match="KAFKA_BOOTSTRAP_SERVERS") as err:
        load(KafkaSettings)
    assert "not a host" in str(err.value)


def test_invalid_security_protocol_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "TLS")
    with pytest.raises(ConfigError, match="KAFKA_SECURITY_PROTOCOL"):
        load(KafkaSettings)


def test_invalid_registry_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", "localhost:8081")
    with pytest.raises(ConfigError, match="SCHEMA_REGISTRY_URL"):
        load(RegistrySettings)


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
