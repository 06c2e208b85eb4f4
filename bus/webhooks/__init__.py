"""Inbound webhooks, the same mechanism for every HTTP edge (order-capture, shipping-tracker,
the router's http-in endpoint).

* :mod:`bus.webhooks.signatures`: each platform's signature scheme, verify and sign.
* :mod:`bus.webhooks.body`: media type, raw-body size limit, JSON with exact decimals.
* :mod:`bus.webhooks.statuses`: the one table of refusals (errors of :mod:`bus.errors`) as HTTP
  statuses with JSON error bodies.
* :mod:`bus.webhooks.tenants`: the accepted shops and their secrets (403 for any other).
* :mod:`bus.webhooks.endpoint`: endpoints as declarations and the Starlette app serving them.
* :mod:`bus.webhooks.intake`: the raw intake, every accepted delivery stored as it came, 2xx
  only after the broker acknowledged it.
* :mod:`bus.webhooks.stage`: the exactly-once stage that interprets stored deliveries once per
  dedupe key (:mod:`bus.webhooks.publication`: what a delivery means).
* :mod:`bus.webhooks.server`: uvicorn in a background thread.
"""

from bus.webhooks.endpoint import Delivery, Endpoint, webhook_app
from bus.webhooks.intake import Identity, IntakeLog
from bus.webhooks.publication import Publication, Record
from bus.webhooks.server import HttpServer
from bus.webhooks.signatures import SCHEMES
from bus.webhooks.statuses import STATUSES, Refusal, refusal_of, refusal_response

__all__ = [
    "SCHEMES",
    "STATUSES",
    "Delivery",
    "Endpoint",
    "HttpServer",
    "Identity",
    "IntakeLog",
    "Publication",
    "Record",
    "Refusal",
    "refusal_of",
    "refusal_response",
    "webhook_app",
]
