"""Webhook signature schemes, verified over the raw body in constant time (REFERENCE.md §5).

One :class:`Scheme` per way platforms sign, registered by platform name in :data:`SCHEMES`:

==============  =================================================================================
shopify         ``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256(secret, body)
woocommerce     ``X-WC-Webhook-Signature``: base64 HMAC-SHA256(secret, body)
bigcommerce     Standard Webhooks: ``webhook-signature: v1,<base64 HMAC-SHA256(key,
                "{webhook-id}.{webhook-timestamp}.{body}")>``, timestamp within a tolerance
easypost        ``X-Hmac-Signature: hmac-sha256-hex=<hex HMAC-SHA256(NFKD(secret), body)>``
aftership       ``aftership-hmac-sha256``: base64 HMAC-SHA256(secret, body)
==============  =================================================================================

``verify`` raises :class:`~bus.errors.Unauthorized` and otherwise returns nothing;
``sign`` gives the headers a platform would send (the simulators and tests use it, so both
sides of every scheme live in one place). Header names are matched case-insensitively: pass
headers as a mapping with lower-case keys (:func:`lower_headers`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import unicodedata
import uuid
from collections.abc import Iterable, Mapping

from bus.errors import Unauthorized

DEFAULT_TOLERANCE_SECONDS = 300.0
"""Standard Webhooks: reject timestamps further than five minutes from now."""


def lower_headers(headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> dict[str, str]:
    """Headers with lower-case names (the last value of a repeated header wins)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return {k.lower(): v for k, v in pairs}


def _digest(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _required(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "").strip()
    if not value:
        raise Unauthorized(f"missing {name} header")
    return value


def _base64_matches(expected: bytes, given: str, header: str) -> None:
    try:
        decoded = base64.b64decode(given, validate=True)
    except (binascii.Error, ValueError):
        raise Unauthorized(f"{header} is not base64") from None
    if not hmac.compare_digest(expected, decoded):
        raise Unauthorized(f"{header} does not match the body")


class Scheme:
    """A signature scheme: how a platform signs a webhook and how we check it."""

    name = ""

    def verify(self, secret: str, body: bytes, headers: Mapping[str, str],
               now: float | None = None) -> None:
        """Raise Unauthorized unless ``headers`` carry a valid signature of ``body``."""
        raise NotImplementedError

    def sign(self, secret: str, body: bytes, now: float | None = None,
             message_id: str | None = None) -> dict[str, str]:
        """The signature headers a platform sends with ``body``."""
        raise NotImplementedError


class Base64Hmac(Scheme):
    """base64 HMAC-SHA256(secret, raw body) in one header (Shopify, WooCommerce, AfterShip)."""

    def __init__(self, name: str, header: str) -> None:
        self.name, self.header = name, header

    def verify(self, secret: str, body: bytes, headers: Mapping[str, str],
               now: float | None = None) -> None:
        given = _required(headers, self.header.lower())
        _base64_matches(_digest(secret.encode(), body), given, self.header)

    def sign(self, secret: str, body: bytes, now: float | None = None,
             message_id: str | None = None) -> dict[str, str]:
        return {self.header: base64.b64encode(_digest(secret.encode(), body)).decode()}


class EasyPostHmac(Scheme):
    """``X-Hmac-Signature: hmac-sha256-hex=<hex>``; the secret is NFKD-normalised first."""

    name, header, prefix = "easypost", "X-Hmac-Signature", "hmac-sha256-hex="

    @staticmethod
    def _key(secret: str) -> bytes:
        return unicodedata.normalize("NFKD", secret).encode()

    def verify(self, secret: str, body: bytes, headers: Mapping[str, str],
               now: float | None = None) -> None:
        given = _required(headers, self.header.lower())
        if not given.startswith(self.prefix):
            raise Unauthorized(f"{self.header} does not start with {self.prefix}")
        expected = _digest(self._key(secret), body).hex()
        if not hmac.compare_digest(expected.encode(), given[len(self.prefix):].lower().encode()):
            raise Unauthorized(f"{self.header} does not match the body")

    def sign(self, secret: str, body: bytes, now: float | None = None,
             message_id: str | None = None) -> dict[str, str]:
        return {self.header: self.prefix + _digest(self._key(secret), body).hex()}


class StandardWebhooks(Scheme):
    """Standard Webhooks (BigCommerce): id, timestamp and one or more ``v1,<sig>`` signatures.

    A ``whsec_``-prefixed secret is base64 (the key is its decoded bytes); any other secret is
    used as UTF-8 bytes.

    Args:
        tolerance: seconds a timestamp may differ from now, either way.
    """

    name = "bigcommerce"

    def __init__(self, tolerance: float = DEFAULT_TOLERANCE_SECONDS) -> None:
        self.tolerance = tolerance

    @staticmethod
    def _key(secret: str) -> bytes:
        if secret.startswith("whsec_"):
            try:
                return base64.b64decode(secret[len("whsec_"):], validate=True)
            except (binascii.Error, ValueError):
                pass
        return secret.encode()

    def _expected(self, secret: str, message_id: str, timestamp: str, body: bytes) -> bytes:
        return _digest(self._key(secret), f"{message_id}.{timestamp}.".encode() + body)

    def verify(self, secret: str, body: bytes, headers: Mapping[str, str],
               now: float | None = None) -> None:
        message_id = _required(headers, "webhook-id")
        timestamp = _required(headers, "webhook-timestamp")
        given = _required(headers, "webhook-signature")
        try:
            sent_at = int(timestamp)
        except ValueError:
            raise Unauthorized("webhook-timestamp is not a number of seconds") from None
        current = time.time() if now is None else now
        if abs(current - sent_at) > self.tolerance:
            raise Unauthorized(f"webhook-timestamp is more than {self.tolerance:.0f}s from now")
        expected = self._expected(secret, message_id, timestamp, body)
        matched = False
        for candidate in given.split():
            version, _, signature = candidate.partition(",")
            if version != "v1":
                continue
            try:
                decoded = base64.b64decode(signature, validate=True)
            except (binascii.Error, ValueError):
                continue
            matched = hmac.compare_digest(expected, decoded) or matched
        if not matched:
            raise Unauthorized("no v1 signature in webhook-signature matches the body")

    def sign(self, secret: str, body: bytes, now: float | None = None,
             message_id: str | None = None) -> dict[str, str]:
        message_id = message_id or f"msg_{uuid.uuid4().hex}"
        timestamp = str(int(time.time() if now is None else now))
        signature = base64.b64encode(self._expected(secret, message_id, timestamp, body)).decode()
        return {"webhook-id": message_id, "webhook-timestamp": timestamp,
                "webhook-signature": f"v1,{signature}"}


SCHEMES: dict[str, Scheme] = {
    "shopify": Base64Hmac("shopify", "X-Shopify-Hmac-Sha256"),
    "woocommerce": Base64Hmac("woocommerce", "X-WC-Webhook-Signature"),
    "bigcommerce": StandardWebhooks(),
    "easypost": EasyPostHmac(),
    "aftership": Base64Hmac("aftership", "aftership-hmac-sha256"),
}
"""Signature scheme by platform name."""
