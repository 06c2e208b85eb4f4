"""12-factor settings shared by every process: Kafka and the schema registry.

Each class reads its own environment prefix (``KAFKA_*``, ``SCHEMA_REGISTRY_*``), is frozen, and
is validated when loaded. :func:`load` turns pydantic's validation error into a
:class:`~bus.errors.ConfigError` that names the environment variable, so a bad deployment fails
at start with a message an operator can act on.

SASL and TLS settings pass straight through to librdkafka: any ``KAFKA_*`` setting below maps to
the librdkafka key of the same meaning, and ``KAFKA_EXTRA_CONFIG`` (a JSON object) carries any
other librdkafka key verbatim.
"""

from __future__ import annotations

import re
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus.errors import ConfigError

DEFAULT_BOOTSTRAP_SERVERS = "127.0.0.1:9092"
DEFAULT_REGISTRY_URL = "http://127.0.0.1:8081"

ClientConfig = dict[str, str | int | float | bool]
"""A librdkafka configuration, as confluent-kafka's clients take it."""

_HOST_PORT = re.compile(r"^(?:[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:]+\]):\d{1,5}$")


class KafkaSettings(BaseSettings):
    """How to reach Kafka. Environment prefix ``KAFKA_``.

    Attributes:
        bootstrap_servers: ``host:port[,host:port...]`` (``KAFKA_BOOTSTRAP_SERVERS``).
        security_protocol: librdkafka ``security.protocol``.
        sasl_mechanism / sasl_username / sasl_password: librdkafka ``sasl.*``.
        ssl_ca_location / ssl_certificate_location / ssl_key_location: librdkafka ``ssl.*``.
        extra_config: any other librdkafka keys, e.g. ``{"client.rack": "eu-west-1a"}``.
    """

    model_config = SettingsConfigDict(env_prefix="KAFKA_", frozen=True, extra="ignore")

    bootstrap_servers: str = DEFAULT_BOOTSTRAP_SERVERS
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    extra_config: dict[str, str] = Field(default_factory=dict)

    @field_validator("bootstrap_servers")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        servers = [s.strip() for s in value.split(",") if s.strip()]
        bad = [s for s in servers if not _HOST_PORT.match(s)]
        if not servers or bad:
            raise ValueError(
                f"expected host:port[,host:port...], got {value!r}"
                + (f" (bad entries: {', '.join(bad)})" if bad else "")
            )
        return ",".join(servers)

    def client_config(self) -> ClientConfig:
        """The librdkafka keys common to producers, consumers and admin clients."""
        config: ClientConfig = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password.get_secret_value() if self.sasl_password else None,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
        }
        config.update({k: v for k, v in optional.items() if v is not None})
        config.update(self.extra_config)
        return config


class RegistrySettings(BaseSettings):
    """How to reach the schema registry. Environment prefix ``SCHEMA_REGISTRY_``.

    Attributes:
        url: ``SCHEMA_REGISTRY_URL``; Confluent Schema Registry, Karapace, Apicurio (ccompat API)
            or ``ecombus registry serve``.
        basic_auth_user_info: ``user:password`` for registries behind basic auth.
    """

    model_config = SettingsConfigDict(env_prefix="SCHEMA_REGISTRY_", frozen=True, extra="ignore")

    url: str = DEFAULT_REGISTRY_URL
    basic_auth_user_info: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected an http(s) URL such as {DEFAULT_REGISTRY_URL}, got {value!r}")
        return value.rstrip("/")


S = TypeVar("S", bound=BaseSettings)


def load(cls: type[S], **overrides: object) -> S:
    """Build a settings object from the environment, raising ConfigError naming the variable.

    Args:
        cls: the settings class.
        **overrides: explicit values (e.g. from command-line options); they win over the
            environment.
    """
    prefix = str(cls.model_config.get("env_prefix", ""))
    try:
        return cls(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            problems.append(f"{prefix}{field.upper()}: {err['msg']}")
        raise ConfigError("invalid settings: " + "; ".join(problems)) from exc
