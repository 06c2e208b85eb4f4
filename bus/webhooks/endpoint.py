"""Webhook endpoints as declarations, and the ASGI (Starlette) app that serves them.

A service declares what each endpoint accepts and how a verified delivery names its business
identity::

    Endpoint("/webhooks/shopify", "shopify", identify=shopify_identity, secret=settings.shopify_secret)

and :func:`webhook_app` does the rest, in this order, for every request, and nothing more (no
mapping, no contract is encoded: the request path only stores the delivery as it came):

1. media type (415) — an endpoint with ``ping`` answers an unsigned form-encoded ping 200;
2. raw body within the size limit, counted while it streams (413);
3. tenant, when the platform names it in a header and tenants are configured (403 when unknown;
   its own secret, if it has one, is the one checked next);
4. signature over the raw body, constant time (401; also when no secret is configured);
5. a JSON object with exact decimals (400);
6. ``identify(delivery)`` → :class:`~bus.webhooks.intake.Identity` (400 when the ids it needs are
   missing or malformed; 403 when the tenant the body names is not configured);
7. the raw delivery onto the intake topic (:class:`~bus.webhooks.intake.IntakeLog`), answering
   200 ``{"status": "accepted", "delivery_id": ...}`` only once the broker acknowledged it
   (503 with ``Retry-After`` otherwise).

What the delivery means is decided after the intake, once per dedupe key, by the service's
exactly-once stage (:mod:`bus.webhooks.stage`); a delivery that cannot be interpreted is
dead-lettered there with its raw bytes.

Refusals are the errors of :mod:`bus.errors` listed in :data:`bus.webhooks.statuses.STATUSES`:
they answer ``{"error": ..., "message": ...}`` with the table's status and reach no topic. Each
request is counted in ``ecombus_webhook_requests_total{service, platform, outcome}``.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import SecretStr, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bus.errors import BusError, InvalidInput, Unauthorized
from bus.observability.health import Health
from bus.webhooks.body import FORM, JSON, parse_form, parse_json_object, read_limited, require_media_type
from bus.webhooks.body import media_type as media_type_of
from bus.webhooks.intake import WEBHOOK, Identity, IntakeLog
from bus.webhooks.signatures import SCHEMES, Scheme, lower_headers
from bus.webhooks.statuses import refusal_of, refusal_response
from bus.webhooks.tenants import Tenants

if TYPE_CHECKING:
    from bus.observability.metrics import RuntimeMetrics

log = logging.getLogger("ecombus.webhooks")


@dataclass(frozen=True)
class Delivery:
    """A delivery whose signature was verified: headers (lower-case names), raw body, payload.

    At the edge it is identified (:class:`Endpoint`); after the intake, the service's stage reads
    it back from the ``RawDelivery`` and interprets it (``channel`` says how it arrived).
    """

    platform: str
    path: str
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any]
    received_at: float
    channel: str = WEBHOOK
    delivery_id: str = ""
    tenant: str = ""
    identity: str = ""
    topic: str = ""


Identify = Callable[[Delivery], Identity]
T = TypeVar("T")


def checked(platform: str, fn: Callable[[Delivery], T], delivery: Delivery) -> T:
    """``fn(delivery)``; a built-in error of reading the payload becomes InvalidInput (400 at the
    edge, a dead letter after the intake).

    The built-in error's text is kept out of the message (a ValueError may quote personal data);
    it stays in the cause. A KeyError names the missing field, a ValidationError the invalid ones.
    """
    try:
        return fn(delivery)
    except BusError:
        raise
    except KeyError as exc:
        name = str(exc.args[0]) if exc.args else None
        raise InvalidInput(f"the {platform} payload does not fit: missing {name}", field=name) from exc
    except ValidationError as exc:  # a contract model refused a value: name the fields only
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors()) or "(unknown)"
        raise InvalidInput(f"the {platform} payload does not fit: invalid {fields}") from exc
    except (TypeError, ValueError, InvalidOperation, AttributeError, OverflowError, RecursionError) as exc:
        raise InvalidInput(f"the {platform} payload does not fit: {type(exc).__name__}") from exc


@dataclass(frozen=True)
class Endpoint:
    """One webhook endpoint.

    Attributes:
        path: e.g. ``/webhooks/shopify``.
        platform: the ``platform`` label and the default signature scheme.
        identify: the delivery's tenant, business identity and event name (no mapping).
        secret: the platform's (app) signing secret; a configured tenant's own secret wins.
            Without either, every signed request is refused (401).
        scheme: overrides ``SCHEMES[platform]``.
        media_types: accepted Content-Types.
        ping: recognises an unsigned form-encoded ping (WooCommerce) to answer 200 unstored.
        tenant_of: the tenant a header names (``(header name, value)``), checked before the
            signature when the app has tenants configured.
    """

    path: str
    platform: str
    identify: Identify
    secret: SecretStr | None
    scheme: Scheme | None = None
    media_types: tuple[str, ...] = (JSON,)
    ping: Callable[[dict[str, str]], bool] | None = None
    tenant_of: Callable[[dict[str, str]], tuple[str, str | None]] | None = None


@dataclass
class WebhookApp:
    """Serves endpoints; see :func:`webhook_app`."""

    service: str
    endpoints: Sequence[Endpoint]
    intake: IntakeLog
    max_body_bytes: int
    metrics: RuntimeMetrics | None = None
    health: Health | None = None
    clock: Callable[[], float] = time.time
    tenants: Tenants | None = None
    _series: dict[tuple[str, str], Any] = field(default_factory=dict, init=False, repr=False)

    async def receive(self, endpoint: Endpoint, request: Request) -> JSONResponse:
        """Answer one webhook request; a refusal becomes its status and JSON error body."""
        try:
            status, body = await self._receive(endpoint, request)
        except BusError as exc:
            refusal = refusal_of(exc)
            if refusal is None:
                raise
            log.info("%s webhook refused (%d): %s", endpoint.platform, refusal.status, exc)
            self._count(endpoint, refusal.outcome)
            return refusal_response(exc, refusal)
        self._count(endpoint, body["status"])
        return JSONResponse(body, status_code=status)

    async def _receive(self, endpoint: Endpoint, request: Request) -> tuple[int, dict[str, Any]]:
        content_type = request.headers.get("content-type")
        if endpoint.ping is not None and media_type_of(content_type) == FORM:
            body = await read_limited(request.stream(), request.headers.get("content-length"), 64 * 1024)
            if endpoint.ping(parse_form(body)):
                return 200, {"status": "ping"}
        require_media_type(content_type, endpoint.media_types)
        body = await read_limited(request.stream(), request.headers.get("content-length"),
                                  self.max_body_bytes)
        received_at = self.clock()
        headers = lower_headers(request.headers.items())
        secret = endpoint.secret
        if self.tenants is not None and endpoint.tenant_of is not None:
            where, named = endpoint.tenant_of(headers)
            secret = self.tenants.require(endpoint.platform, named, where).secret or secret
        if secret is None or not secret.get_secret_value():
            raise Unauthorized(f"webhooks from {endpoint.platform} are not accepted: no secret is "
                               "configured")
        scheme = endpoint.scheme or SCHEMES[endpoint.platform]
        scheme.verify(secret.get_secret_value(), body, headers, now=received_at)
        delivery = Delivery(endpoint.platform, endpoint.path, headers, body, parse_json_object(body),
                            received_at)
        identity = checked(endpoint.platform, endpoint.identify, delivery)
        if self.tenants is not None:
            self.tenants.require(endpoint.platform, identity.tenant, "the delivery")
        client = request.client
        delivery_id = await self.intake.write(endpoint.platform, identity, WEBHOOK, endpoint.path, headers,
                                              body, received_at, client.host if client else None)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s webhook accepted: %s %s", endpoint.platform, identity.topic, delivery_id)
        return 200, {"status": "accepted", "delivery_id": delivery_id}

    def _count(self, endpoint: Endpoint, outcome: str) -> None:
        if self.metrics is not None:
            series = self._series.get((endpoint.platform, outcome))
            if series is None:  # looked up once per platform and outcome, not per request
                series = self._series[(endpoint.platform, outcome)] = self.metrics.webhooks.labels(
                    self.service, endpoint.platform, outcome)
            series.inc()

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(self._heartbeat())]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _heartbeat(self) -> None:
        while True:
            if self.health is not None:
                self.health.beat("webhooks")
            await asyncio.sleep(1.0)

    def build(self) -> Starlette:
        """A Starlette app (what FastAPI stands on, without its per-request dependency solving and
        OpenAPI machinery, which a webhook's raw-body handling does not use)."""
        routes = [Route(e.path, self._route(e), methods=["POST"], name=e.platform) for e in self.endpoints]
        return Starlette(routes=routes, lifespan=self.lifespan)

    def _route(self, endpoint: Endpoint) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def route(request: Request) -> JSONResponse:
            return await self.receive(endpoint, request)

        return route


def webhook_app(service: str, endpoints: Sequence[Endpoint], intake: IntakeLog, *,
                max_body_bytes: int, metrics: RuntimeMetrics | None = None, health: Health | None = None,
                clock: Callable[[], float] = time.time, tenants: Tenants | None = None) -> Starlette:
    """A Starlette app serving ``endpoints`` (see the module docstring).

    Args:
        service: the ``service`` metrics label.
        endpoints: what to serve.
        intake: where accepted deliveries are stored, as they came.
        max_body_bytes: larger bodies are refused with 413 (the intake topic takes any smaller).
        metrics: counts webhook outcomes.
        health: beaten every second while the event loop turns (``/healthz``).
        clock: wall clock (signature timestamps, received time).
        tenants: the accepted tenants; None accepts any (platforms without tenants, e.g. carriers).
    """
    return WebhookApp(service, endpoints, intake, max_body_bytes, metrics, health, clock, tenants).build()
