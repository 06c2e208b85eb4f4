"""Settings of the monitor service. Environment prefix ``ECOMBUS_MONITOR_``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bus.observability.lag import DEFAULT_GROUP_PREFIX


class MonitorSettings(BaseSettings):
    """What the monitor measures and how often.

    Attributes:
        interval_seconds: pause between two measurements (``ECOMBUS_MONITOR_INTERVAL_SECONDS``).
        group_prefix: consumer groups whose id starts with this are measured; empty selects none
            by prefix (``ECOMBUS_MONITOR_GROUP_PREFIX``, default ``ecombus.``).
        groups: more groups to measure, comma-separated (``ECOMBUS_MONITOR_GROUPS``), e.g. an
            analyst's group that does not follow our naming.
        request_timeout_seconds: timeout of each admin request and of reading message timestamps.
        isolation_level: how the oldest unconsumed message is read (``read_committed`` like our
            consumers, or ``read_uncommitted``).
    """

    model_config = SettingsConfigDict(env_prefix="ECOMBUS_MONITOR_", frozen=True, extra="ignore")

    interval_seconds: float = Field(default=15.0, gt=0)
    group_prefix: str = DEFAULT_GROUP_PREFIX
    groups: Annotated[tuple[str, ...], NoDecode] = ()
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    isolation_level: str = Field(default="read_committed", pattern="^read_(un)?committed$")

    @field_validator("groups", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(g.strip() for g in value.split(",") if g.strip())
        return value
