"""The one table mapping errors to what an HTTP edge answers: status, JSON error code, metric label.

Every HTTP edge (the webhooks of order-capture and shipping-tracker, the router's ``http_in``)
answers a refusal the same way, ``{"error": "<code>", "message": "..."}``, and publishes
nothing. The status is found along the error's class hierarchy (its MRO), so a subclass answers
as its nearest listed ancestor::

    error class (bus.errors)    status   error code               outcome label
    Unauthorized                 401      invalid_signature        unauthorized
    Forbidden                    403      unknown_tenant           forbidden
    InvalidInput                 400      malformed_body           malformed
    TooLarge                     413      payload_too_large        too_large
    UnsupportedMediaType         415      unsupported_media_type   unsupported_media_type
    TransientError               503      unavailable              unavailable (+ Retry-After: 1)

Any other error is no refusal; the edge does no interpretation (that happens after the raw
intake, where a failure is dead-lettered), so anything else is a bug (500).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastapi.responses import JSONResponse

from bus.errors import Forbidden, InvalidInput, TooLarge, TransientError, Unauthorized, UnsupportedMediaType


@dataclass(frozen=True)
class Refusal:
    """What an edge answers for a class of errors.

    Attributes:
        status: the HTTP status.
        code: the ``error`` field of the JSON body.
        outcome: the ``outcome`` label of ``ecombus_webhook_requests_total``.
    """

    status: int
    code: str
    outcome: str


STATUSES: Mapping[type[Exception], Refusal] = {
    Unauthorized: Refusal(401, "invalid_signature", "unauthorized"),
    Forbidden: Refusal(403, "unknown_tenant", "forbidden"),
    InvalidInput: Refusal(400, "malformed_body", "malformed"),
    TooLarge: Refusal(413, "payload_too_large", "too_large"),
    UnsupportedMediaType: Refusal(415, "unsupported_media_type", "unsupported_media_type"),
    TransientError: Refusal(503, "unavailable", "unavailable"),
}
"""Refusal classes and their answers; looked up along the MRO by :func:`refusal_of`."""

RETRY_AFTER_SECONDS = "1"
"""``Retry-After`` of a 503: the platform should retry soon."""


def refusal_of(exc: BaseException) -> Refusal | None:
    """The answer to ``exc``: its nearest class listed in :data:`STATUSES`, or None (no refusal)."""
    for cls in type(exc).__mro__:
        found = STATUSES.get(cls)
        if found is not None:
            return found
    return None


def refusal_response(exc: BaseException, refusal: Refusal) -> JSONResponse:
    """The JSON answer ``{"error": code, "message": str(exc)}`` with the refusal's status."""
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if refusal.status == 503 else None
    return JSONResponse({"error": refusal.code, "message": str(exc)}, status_code=refusal.status,
                        headers=headers)


__all__ = ["RETRY_AFTER_SECONDS", "STATUSES", "Refusal", "refusal_of", "refusal_response"]
