"""12-factor settings shared by every process: Kafka and the schema registry.

Each class reads its own environment prefix (``KAFKA_*``, ``SCHEMA_REGISTRY_*``), is frozen, and
is validated when loaded. :func:`load` turns pydantic's validation error, and pydantic-settings'
refusal of a value that is not JSON where JSON is expected (``KAFKA_EXTRA_CONFIG``,
``ECOMBUS_ROUTER_TOPICS``), into a :class:`~bus.errors.ConfigError` that names the environment
variable, so a bad deployment fails at start with a message an operator can act on
(``error: invalid settings: KAFKA_EXTRA_CONFIG: ...``) and never a traceback. Messages name the
variable and what is expected, never its value (it may hold a credential).

SASL and TLS settings pass straight through to librdkafka: any ``KAFKA_*`` setting below maps to
the librdkafka key of the same meaning, and ``KAFKA_EXTRA_CONFIG`` (a JSON object) carries any
other librdkafka key verbatim.
"""

from __future__ import annotations

import re
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

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
        extra_config: any other librdkafka keys, a JSON object of strings, numbers or booleans,
            e.g. ``{"client.rack": "eu-west-1a", "linger.ms": 5}``.
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
    extra_config: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @field_validator("extra_config", mode="before")
    @classmethod
    def _check_extra(cls, value: object) -> object:
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(item, str | int | float | bool):
                    raise ValueError(f"the value of {key} is not a string, number or boolean")
        return value

    @field_validator("bootstrap_servers")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        servers = [s.strip() for s in value.split(",") if s.strip()]
        bad = [str(n) for n, s in enumerate(servers, 1) if not _HOST_PORT.match(s)]
        if not servers or bad:
            raise ValueError("expected host:port[,host:port...]"
                             + (f" (entry {', '.join(bad)} is not host:port)" if bad else ""))
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
            raise ValueError(f"expected an http(s) URL such as {DEFAULT_REGISTRY_URL}")
        return value.rstrip("/")


S = TypeVar("S", bound=BaseSettings)


def load(cls: type[S], **overrides: object) -> S:
    """Build a settings object from the environment, raising ConfigError naming the variable.

    Args:
        cls: the settings class.
        **overrides: explicit values (e.g. from command-line options); they win over the
            environment.

    Raises:
        ConfigError: ``invalid settings: NAME: what is wrong`` for every invalid variable (a key
            inside a JSON object is named after it: ``KAFKA_EXTRA_CONFIG: linger.ms: ...``); the
            values themselves are never quoted.
    """
    prefix = str(cls.model_config.get("env_prefix", ""))
    try:
        return cls(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_input=False, include_url=False):
            loc = [str(part) for part in err["loc"]] or ["?"]
            inner = "".join(f"{part}: " for part in loc[1:2])
            problems.append(f"{prefix}{loc[0].upper()}: {inner}{err['msg']}")
        raise ConfigError("invalid settings: " + "; ".join(problems)) from None
    except SettingsError as exc:  # a value that must be JSON is not (pydantic-settings' own check)
        found = re.search(r'field "([^"]+)"', str(exc))
        name = f"{prefix}{found.group(1).upper()}" if found else f"a {prefix}* variable"
        raise ConfigError(f"invalid settings: {name}: not valid JSON (expected a JSON object)") from None
