"""A small client for any Confluent-compatible schema registry, on httpx.

Works with Confluent Schema Registry, Karapace, Apicurio's ccompat API and ``ecombus registry
serve``. Ids and schemas are immutable in a registry, so they are cached for the life of the
client; ``latest`` is not (a new version may be registered at any time).

Errors::

    TransientError            registry unreachable, timed out, 429 or 5xx: retry later
    RegistryRequestError      any other 4xx answer (PermanentError): status and error_code
    └── NotFoundError         404: no such subject, version or schema
        └── UnknownSchemaIdError  404 on a schema id; also a SerializationError (dead-letter it)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from bus.errors import PermanentError, SerializationError, TransientError
from bus.settings import RegistrySettings

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
_ACCEPT = f"{CONTENT_TYPE}, application/vnd.schemaregistry+json; qs=0.9, application/json; qs=0.5"

Schema = str | dict[str, Any]
"""A schema as JSON text or as decoded JSON."""


class RegistryRequestError(PermanentError):
    """The registry refused a request (4xx other than 429).

    Attributes:
        status: the HTTP status.
        error_code: the registry's ``error_code`` (e.g. 40401), or the status when absent.
    """

    def __init__(self, message: str, status: int, error_code: int) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class NotFoundError(RegistryRequestError):
    """404: no such subject, version, schema or subject-level config."""


class UnknownSchemaIdError(NotFoundError, SerializationError):
    """404 for a schema id: the payload names a schema this registry does not have."""


@dataclass(frozen=True)
class RegisteredSchema:
    """One version of a subject."""

    subject: str
    version: int
    id: int
    schema: str


def schema_text(schema: Schema) -> str:
    """A schema as the JSON text to send (dicts are dumped compactly, text kept as is)."""
    if isinstance(schema, str):
        return schema
    return json.dumps(schema, ensure_ascii=False, separators=(",", ":"))


class RegistryClient:
    """Talk to one registry. No network in ``__init__``; close it (or use ``with``) when done.

    Args:
        url: base URL, e.g. ``http://127.0.0.1:8081``.
        basic_auth: ``(user, password)`` for registries behind basic auth.
        timeout: seconds per request.
        transport: an httpx transport (``httpx.MockTransport`` in unit tests).
    """

    def __init__(self, url: str, *, basic_auth: tuple[str, str] | None = None, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, auth=basic_auth, timeout=timeout, transport=transport,
                                  headers={"Accept": _ACCEPT, "Content-Type": CONTENT_TYPE})
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, str] = {}

    @classmethod
    def from_settings(cls, settings: RegistrySettings, **kwargs: Any) -> RegistryClient:
        """A client for ``SCHEMA_REGISTRY_URL`` with ``SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO``."""
        auth = None
        if settings.basic_auth_user_info is not None:
            user, _, password = settings.basic_auth_user_info.get_secret_value().partition(":")
            auth = (user, password)
        return cls(settings.url, basic_auth=auth, **kwargs)

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def register(self, subject: str, schema: Schema) -> int:
        """Register ``schema`` under ``subject`` (idempotent) and return its global id.

        Raises:
            RegistryRequestError: e.g. 409 incompatible or 422 invalid; the message says why.
        """
        text = schema_text(schema)
        key = (subject, text)
        if key not in self._ids:
            body = self._call("POST", f"/subjects/{_q(subject)}/versions", {"schema": text})
            self._ids[key] = int(body["id"])
            self._schemas.setdefault(self._ids[key], text)
        return self._ids[key]

    def lookup(self, subject: str, schema: Schema) -> RegisteredSchema | None:
        """The version of ``subject`` holding exactly ``schema``, or None if it has none."""
        try:
            body = self._call("POST", f"/subjects/{_q(subject)}", {"schema": schema_text(schema)})
        except NotFoundError:
            return None
        return _registered(body, subject)

    def schema_by_id(self, schema_id: int) -> str:
        """The schema text with this global id.

        Raises:
            UnknownSchemaIdError: the registry has no such id (a permanent serialization error).
        """
        if schema_id not in self._schemas:
            try:
                body = self._call("GET", f"/schemas/ids/{schema_id}")
            except NotFoundError as exc:
                raise UnknownSchemaIdError(f"schema id {schema_id} is unknown to the registry at "
                                           f"{self.url}: {exc}", exc.status, exc.error_code) from exc
            self._schemas[schema_id] = body["schema"]
        return self._schemas[schema_id]

    def latest(self, subject: str) -> RegisteredSchema:
        """The newest version of ``subject``. Raises NotFoundError if there is none."""
        return _registered(self._call("GET", f"/subjects/{_q(subject)}/versions/latest"), subject)

    def subjects(self) -> list[str]:
        """Every subject (not deleted)."""
        return [str(s) for s in self._call("GET", "/subjects")]

    def get_compatibility(self, subject: str) -> str | None:
        """The level set on ``subject`` itself, or None when it follows the global default."""
        try:
            body = self._call("GET", f"/config/{_q(subject)}")
        except NotFoundError:
            return None
        return str(body.get("compatibilityLevel") or body.get("compatibility"))

    def set_compatibility(self, subject: str, level: str) -> str:
        """Set ``subject``'s compatibility level (works before the subject has any version)."""
        body = self._call("PUT", f"/config/{_q(subject)}", {"compatibility": level})
        return str(body.get("compatibility") or body.get("compatibilityLevel") or level)

    def check_compatibility(self, subject: str, schema: Schema, version: str | int = "latest") -> list[str]:
        """Problems registering ``schema`` under ``subject`` at its own level; empty = compatible.

        Raises:
            NotFoundError: the subject has no version to compare with.
        """
        body = self._call("POST", f"/compatibility/subjects/{_q(subject)}/versions/{version}",
                          {"schema": schema_text(schema)}, params={"verbose": "true"})
        if body.get("is_compatible"):
            return []
        return [str(m) for m in body.get("messages") or ["incompatible (the registry gave no detail)"]]

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None,
              params: dict[str, str] | None = None) -> Any:
        where = f"{method} {self.url}{path}"
        try:
            response = self._http.request(method, path, json=payload, params=params)
        except httpx.TimeoutException as exc:
            raise TransientError(f"schema registry timed out: {where}: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"schema registry unreachable: {where}: {exc!r}") from exc
        if response.is_success:
            return response.json()
        try:
            error = response.json()
            code, message = int(error.get("error_code", response.status_code)), str(error.get("message"))
        except (ValueError, AttributeError):
            code, message = response.status_code, response.text[:200]
        text = f"schema registry answered {response.status_code} ({code}) to {where}: {message}"
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(text, retry_after=_retry_after(response))
        if response.status_code == 404:
            raise NotFoundError(text, response.status_code, code)
        raise RegistryRequestError(text, response.status_code, code)


def _q(subject: str) -> str:
    return quote(subject, safe="")


def _registered(body: dict[str, Any], subject: str) -> RegisteredSchema:
    return RegisteredSchema(subject=str(body.get("subject", subject)), version=int(body["version"]),
                            id=int(body["id"]), schema=str(body["schema"]))


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None
