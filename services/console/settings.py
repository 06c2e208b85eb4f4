"""Settings of the console. Environment prefix ``ECOMBUS_CONSOLE_``.

Authentication is configured one of two ways (both may be set; docs/console.md):

* **tokens**: ``ECOMBUS_CONSOLE_TOKENS`` is a JSON list of accounts,
  ``[{"user": "ana", "role": "operator", "token": "..."}]``; a person signs in on ``/login`` with
  their token (a session cookie follows), a script sends ``Authorization: Bearer <token>``.
* **OIDC through a proxy** (oauth2-proxy, an ingress with auth): the proxy authenticates and
  passes the user in ``ECOMBUS_CONSOLE_PROXY_USER_HEADER`` (e.g. ``X-Forwarded-Email``) and the
  groups in ``ECOMBUS_CONSOLE_PROXY_GROUPS_HEADER``; members of ``ECOMBUS_CONSOLE_OPERATOR_GROUPS``
  are operators, everyone else a viewer. The header is believed only from
  ``ECOMBUS_CONSOLE_TRUSTED_PROXIES`` (the sidecar on 127.0.0.1 by default).

With neither, the console refuses to start: it serves nothing without authentication.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Role = Literal["viewer", "operator"]
"""viewer: reads, personal data masked; operator: also replays and sees personal data."""

DLQ_SERVICES = ("order-capture", "inventory-sync", "crm-updater", "shipping-tracker", "router")
"""The services whose ``dlq.<service>`` topics the console shows by default."""


@dataclass(frozen=True)
class Account:
    """One token holder."""

    user: str
    role: Role
    token: SecretStr


def _split(value: object) -> object:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


class ConsoleSettings(BaseSettings):
    """What the console serves, to whom, and what it reads.

    Attributes:
        host / port: where the pages are served (``ECOMBUS_CONSOLE_PORT``, default 8088).
        tokens: the accounts (JSON list, see the module docstring); a token has at least 16
            characters.
        proxy_user_header / proxy_groups_header / operator_groups / trusted_proxies: OIDC through
            an authenticating proxy (module docstring).
        session_secret: signs the session cookie; replicas behind one address need the same one.
            Empty: a random secret per process (sessions end when the console restarts).
        session_max_age_seconds: how long a sign-in lasts.
        secure_cookies: mark the cookie ``Secure`` (serve the console over HTTPS, then set this).
        index_path: the index's SQLite file; empty: a temporary file. It is rebuilt from the topics
            at every start either way.
        dlq_services: whose dead letters are shown (``dlq.<service>``), comma-separated.
        replay_rate_per_second: at most this many dead letters are produced per second by a replay.
        replay_max_records: a replay of a filter stops after this many records.
        lag_interval_seconds: how often the flow page's lag is measured (an hour is kept).
    """

    model_config = SettingsConfigDict(env_prefix="ECOMBUS_CONSOLE_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8088, ge=0, le=65535)
    tokens: Annotated[tuple[Account, ...], NoDecode] = ()
    proxy_user_header: str = ""
    proxy_groups_header: str = ""
    operator_groups: Annotated[tuple[str, ...], NoDecode] = ()
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ("127.0.0.1/32", "::1/128")
    session_secret: SecretStr = SecretStr("")
    session_max_age_seconds: int = Field(default=8 * 3600, gt=0)
    secure_cookies: bool = False
    index_path: str = ""
    dlq_services: Annotated[tuple[str, ...], NoDecode] = DLQ_SERVICES
    replay_rate_per_second: float = Field(default=50.0, gt=0)
    replay_max_records: int = Field(default=10_000, gt=0)
    lag_interval_seconds: float = Field(default=15.0, gt=0)

    @field_validator("operator_groups", "trusted_proxies", "dlq_services", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"{item!r} is not an IP address or network") from exc
        return value

    @field_validator("tokens", mode="before")
    @classmethod
    def _accounts(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return ()
        try:
            entries = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON (line {exc.lineno} column {exc.colno}): expected "
                             '[{"user": "...", "role": "viewer|operator", "token": "..."}]') from None
        if not isinstance(entries, list):
            raise ValueError("expected a JSON list of {user, role, token} objects")
        accounts = []
        for number, entry in enumerate(entries, 1):
            if not isinstance(entry, dict) or not {"user", "role", "token"} <= set(entry):
                raise ValueError(f"entry {number}: needs user, role and token")
            if entry["role"] not in ("viewer", "operator"):
                raise ValueError(f"entry {number} ({entry['user']}): role must be viewer or operator")
            if not isinstance(entry["token"], str) or len(entry["token"]) < 16:
                raise ValueError(f"entry {number} ({entry['user']}): the token needs 16 characters or more")
            accounts.append(Account(str(entry["user"]), entry["role"], SecretStr(entry["token"])))
        tokens = [a.token.get_secret_value() for a in accounts]
        if len(set(tokens)) != len(tokens):
            raise ValueError("two accounts share a token")
        return tuple(accounts)

    @model_validator(mode="after")
    def _some_authentication(self) -> ConsoleSettings:
        if not self.tokens and not self.proxy_user_header:
            raise ValueError("the console serves nothing without authentication: set ECOMBUS_CONSOLE_TOKENS "
                             "(accounts with tokens) or ECOMBUS_CONSOLE_PROXY_USER_HEADER (OIDC through an "
                             "authenticating proxy); see docs/console.md")
        return self
