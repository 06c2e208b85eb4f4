"""Settings of ``ecombus registry serve``. Environment prefix ``ECOMBUS_REGISTRY_``.

Kafka itself is reached with the shared :class:`bus.settings.KafkaSettings` (``KAFKA_*``).
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORT = 8081
DEFAULT_TOPIC = "_schemas"
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


class RegistryServerSettings(BaseSettings):
    """Where the registry listens and where it keeps its schemas.

    Attributes:
        host: interface to listen on (``ECOMBUS_REGISTRY_HOST``); ``0.0.0.0`` in a container.
        port: HTTP port (``ECOMBUS_REGISTRY_PORT``).
        topic: the compacted Kafka topic holding the schemas (``ECOMBUS_REGISTRY_TOPIC``); replicas
            that share it share their schemas and ids.
        timeout_seconds: how long start-up, a write or a read-back may take before the registry
            answers a store error (``ECOMBUS_REGISTRY_TIMEOUT_SECONDS``).
    """

    model_config = SettingsConfigDict(env_prefix="ECOMBUS_REGISTRY_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    topic: str = DEFAULT_TOPIC
    timeout_seconds: float = Field(30.0, gt=0)

    @field_validator("topic")
    @classmethod
    def _check_topic(cls, value: str) -> str:
        if not _TOPIC.match(value) or value in (".", ".."):
            raise ValueError(f"not a valid Kafka topic name: {value!r} (letters, digits, '.', '_', '-')")
        return value
