"""Why a webhook was refused, as the HTTP status the platform sees.

Every refusal answers a small JSON body ``{"error": "<code>", "message": "..."}`` and publishes
nothing::

    WebhookRejected (BusError)          status   error code
    ├── InvalidSignature                 401      invalid_signature
    ├── MalformedBody                    400      malformed_body
    ├── PayloadTooLarge                  413      payload_too_large
    ├── UnsupportedMediaType             415      unsupported_media_type
    └── Unavailable                      503      unavailable (the platform retries)

Messages name what was wrong (a header, a field) but never echo secrets or signatures.
"""

from __future__ import annotations

from bus.errors import BusError


class WebhookRejected(BusError):
    """A webhook request the endpoint refuses; ``status`` and ``code`` go into the response."""

    status = 400
    code = "rejected"
    outcome = "rejected"
    """The ``outcome`` label of ``ecombus_webhook_requests_total``."""

    def body(self) -> dict[str, str]:
        return {"error": self.code, "message": str(self)}


class InvalidSignature(WebhookRejected):
    """The signature is missing, malformed, stale or does not match the raw body."""

    status, code, outcome = 401, "invalid_signature", "unauthorized"


class MalformedBody(WebhookRejected):
    """The body is not the JSON document the platform sends (or lacks a required field)."""

    status, code, outcome = 400, "malformed_body", "malformed"


class PayloadTooLarge(WebhookRejected):
    """The body is larger than the endpoint's limit."""

    status, code, outcome = 413, "payload_too_large", "too_large"


class UnsupportedMediaType(WebhookRejected):
    """The Content-Type is not one the endpoint accepts."""

    status, code, outcome = 415, "unsupported_media_type", "unsupported_media_type"


class Unavailable(WebhookRejected):
    """The event could not be stored now (broker or a dependency unreachable): retry later."""

    status, code, outcome = 503, "unavailable", "unavailable"
