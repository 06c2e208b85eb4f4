"""Authentication and client options of outbound HTTP (``http_out``, ``enrich``).

Secrets are named, never written in the routes file: ``auth: {bearer_env: ERP_API_TOKEN}``,
``auth: {basic_user_env: ERP_USER, basic_password_env: ERP_PASSWORD}`` or
``auth: {header: X-Api-Key, value_env: ERP_API_KEY}``. They are read from the environment when
the route is built (a missing one is an error naming the variable) and never logged.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, model_validator

from services.router.build import BuildContext


class AuthConfig(BaseModel):
    """One of: bearer token, basic auth, or an API key header; values from the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bearer_env: str | None = None
    basic_user_env: str | None = None
    basic_password_env: str | None = None
    header: str | None = None
    value_env: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> AuthConfig:
        kinds = [bool(self.bearer_env), bool(self.basic_user_env or self.basic_password_env),
                 bool(self.header or self.value_env)]
        if sum(kinds) != 1:
            raise ValueError("give exactly one of bearer_env, basic_user_env + basic_password_env, "
                             "header + value_env")
        if (self.header and not self.value_env) or (self.value_env and not self.header):
            raise ValueError("an API key needs both 'header' and 'value_env'")
        if bool(self.basic_user_env) != bool(self.basic_password_env):
            raise ValueError("basic auth needs both basic_user_env and basic_password_env")
        return self


def client_options(config: Any, build: BuildContext) -> dict[str, Any]:
    """httpx.Client options from a config with ``headers``, ``auth`` and ``timeout_seconds``."""
    headers = dict(getattr(config, "headers", {}) or {})
    options: dict[str, Any] = {"timeout": httpx.Timeout(config.timeout_seconds, connect=3.0)}
    auth: AuthConfig | None = config.auth
    if auth is not None:
        if auth.bearer_env:
            headers["Authorization"] = f"Bearer {build.secret(auth.bearer_env)}"
        elif auth.basic_user_env and auth.basic_password_env:
            options["auth"] = (build.secret(auth.basic_user_env), build.secret(auth.basic_password_env))
        elif auth.header and auth.value_env:
            headers[auth.header] = build.secret(auth.value_env)
    options["headers"] = headers
    if build.http_transport is not None:
        options["transport"] = build.http_transport
    return options
