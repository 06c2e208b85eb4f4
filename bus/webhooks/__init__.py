"""Inbound webhooks, the same mechanism for every HTTP edge (order-capture, shipping-tracker,
the router's http-in endpoint).

* :mod:`bus.webhooks.signatures`: each platform's signature scheme, verify and sign.
* :mod:`bus.webhooks.body`: media type, raw-body size limit, JSON with exact decimals.
* :mod:`bus.webhooks.errors`: refusals as HTTP statuses with JSON error bodies.
* :mod:`bus.webhooks.publisher`: dedupe and produce, 2xx only after the broker acknowledged.
* :mod:`bus.webhooks.endpoint`: endpoints as declarations and the FastAPI app serving them.
* :mod:`bus.webhooks.server`: uvicorn in a background thread.
"""

from bus.webhooks.endpoint import Delivery, Endpoint, webhook_app
from bus.webhooks.errors import (
    InvalidSignature,
    MalformedBody,
    PayloadTooLarge,
    Unavailable,
    UnsupportedMediaType,
    WebhookRejected,
)
from bus.webhooks.publisher import Publication, Published, Publisher, Record
from bus.webhooks.server import HttpServer
from bus.webhooks.signatures import SCHEMES

__all__ = [
    "SCHEMES",
    "Delivery",
    "Endpoint",
    "HttpServer",
    "InvalidSignature",
    "MalformedBody",
    "PayloadTooLarge",
    "Publication",
    "Published",
    "Publisher",
    "Record",
    "Unavailable",
    "UnsupportedMediaType",
    "WebhookRejected",
    "webhook_app",
]
