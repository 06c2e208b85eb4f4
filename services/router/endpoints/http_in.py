"""``http_in``: a path on the router's HTTP server (:8084) whose requests enter a route.

Example::

    from:
      http_in:
        path: /erp/stock
        format: json                      # json (an object or a list of them) | xml | csv
        signature: {scheme: hmac-sha256, header: X-ERP-Signature, secret_env: ERP_WEBHOOK_SECRET}
        max_body_bytes: 5242880

Signature verification is a pluggable callable (:data:`Verifier`) chosen by ``scheme``, using
the bus' own webhook schemes (:mod:`bus.webhooks.signatures`): ``hmac-sha256`` (base64
HMAC-SHA256 of the raw body in ``header``) or a platform's (``shopify``, ``bigcommerce``...).
It runs over the raw body in constant time before anything is parsed: a bad signature is 401
(:class:`~bus.errors.Unauthorized`), an oversized body 413 (:class:`~bus.errors.TooLarge`), a
malformed one 400 (:class:`~bus.errors.FormatError`), and none reaches Kafka. A request is
answered 202 only once every Kafka output was acknowledged by the broker (503 otherwise, so the
sender retries). The statuses come from the edge's one table, :mod:`bus.webhooks.statuses`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bus.webhooks.signatures import SCHEMES, Base64Hmac, Scheme
from services.router.endpoints.base import Endpoint, EndpointConfig, register
from services.router.formats import csv as csv_format
from services.router.formats import json as json_format
from services.router.formats import xml as xml_format

Verifier = Callable[[bytes, Mapping[str, str]], None]
"""Checks a raw body and its (lower-cased) headers; raises :class:`~bus.errors.Unauthorized` when wrong."""


class SignatureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scheme: str = "hmac-sha256"
    header: str = "X-Signature"
    secret_env: str


def verifier(config: SignatureConfig, secret: str) -> Verifier:
    """The check of one scheme, from :mod:`bus.webhooks.signatures` (the platforms' own code)."""
    if config.scheme == "hmac-sha256":
        scheme: Scheme = Base64Hmac("hmac-sha256", config.header)
    elif config.scheme in SCHEMES:
        scheme = SCHEMES[config.scheme]
    else:
        raise ValueError(f"unknown signature scheme {config.scheme!r}; known: hmac-sha256, "
                         f"{', '.join(SCHEMES)}")

    def verify(body: bytes, headers: Mapping[str, str]) -> None:
        scheme.verify(secret, body, headers)

    return verify


@register("http_in")
class HttpIn(Endpoint):
    """Requests to one path of the router's HTTP server."""

    can_read = True

    class Config(EndpointConfig):
        path: str = Field(pattern=r"^/[A-Za-z0-9/._-]*$")
        format: Literal["json", "xml", "csv"] = "json"
        xml_record: str | None = None
        signature: SignatureConfig | None = None
        max_body_bytes: int = Field(5 * 1024 * 1024, gt=0)

    def __init__(self, name: str, config: Any, build: Any) -> None:
        super().__init__(name, config, build)
        self.verifier: Verifier | None = None
        if config.signature is not None:
            secret = build.secret(config.signature.secret_env) \
                if config.signature.secret_env in build.environ else None
            if secret is not None:
                self.verifier = verifier(config.signature, secret)

    def describe(self) -> str:
        return f"http_in:{self.config.path}"

    def start(self) -> None:
        sig = self.config.signature
        if sig is not None and self.verifier is None:
            raise ValueError(f"secret {sig.secret_env} is not set in the environment")

    def records(self, body: bytes) -> list[Any]:
        """The records of a request body.

        Raises:
            FormatError: the body is not a document of the configured format; the message says why.
        """
        if self.config.format == "csv":
            return csv_format.read_rows(body)
        if self.config.format == "xml":
            return xml_format.read_records(body, self.config.xml_record)
        return json_format.read_records(body)


__all__ = ["HttpIn", "SignatureConfig", "Verifier", "verifier"]
