"""Webhook endpoints as declarations, and the FastAPI app that serves them.

A service declares what each endpoint accepts and what a verified delivery means::

    Endpoint("/webhooks/shopify", "shopify", interpret=shopify_order, secret=settings.shopify_secret)

and :func:`webhook_app` does the rest, in this order, for every request:

1. media type (415) — an endpoint with ``ping`` answers an unsigned form-encoded ping 200;
2. raw body within the size limit (413);
3. signature over the raw body, constant time (401; also when no secret is configured);
4. JSON object with exact decimals (400);
5. ``interpret(delivery)`` → :class:`~bus.webhooks.publisher.Publication` (400 for a body that
   does not fit: :class:`~bus.errors.InvalidInput`, or a KeyError/TypeError/ValueError of the
   mapping; 503 for a :class:`~bus.errors.TransientError` of a dependency; any other
   :class:`~bus.errors.PermanentError` dead-letters the raw body to ``dlq.<service>`` with the
   reason and answers 200, since a retry cannot help);
6. publish, answering 200 only once the broker acknowledged (503 otherwise), and write the
   audit record (:mod:`bus.webhooks.audit`) when an audit trail is given.

Refusals are the errors of :mod:`bus.errors` listed in :data:`bus.webhooks.statuses.STATUSES`:
they answer ``{"error": ..., "message": ...}`` with the table's status and reach no topic. Each
request is counted in ``ecombus_webhook_requests_total{service, platform, outcome}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import InvalidOperation
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr, ValidationError

from bus.errors import BusError, InvalidInput, PermanentError, Unauthorized
from bus.observability.health import Health
from bus.runtime.dlq import Failure, dead_letter_headers, dlq_topic
from bus.webhooks.body import FORM, JSON, parse_form, parse_json_object, read_limited, require_media_type
from bus.webhooks.body import media_type as media_type_of
from bus.webhooks.publisher import Publication, Publisher
from bus.webhooks.signatures import SCHEMES, Scheme, lower_headers
from bus.webhooks.statuses import refusal_of, refusal_response

if TYPE_CHECKING:
    from bus.observability.metrics import RuntimeMetrics
    from bus.webhooks.audit import WebhookAudit

log = logging.getLogger("ecombus.webhooks")


@dataclass(frozen=True)
class Delivery:
    """A webhook whose signature was verified: headers (lower-case names), raw body, payload."""

    platform: str
    path: str
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any]
    received_at: float


Interpret = Callable[[Delivery], "Publication | Awaitable[Publication]"]


@dataclass(frozen=True)
class Endpoint:
    """One webhook endpoint.

    Attributes:
        path: e.g. ``/webhooks/shopify``.
        platform: the ``platform`` label and the default signature scheme.
        interpret: what a verified delivery means (may be async).
        secret: the signing secret; without one every signed request is refused (401).
        scheme: overrides ``SCHEMES[platform]``.
        media_types: accepted Content-Types.
        ping: recognises an unsigned form-encoded ping (WooCommerce) to answer 200 unpublished.
    """

    path: str
    platform: str
    interpret: Interpret
    secret: SecretStr | None
    scheme: Scheme | None = None
    media_types: tuple[str, ...] = (JSON,)
    ping: Callable[[dict[str, str]], bool] | None = None


@dataclass
class WebhookApp:
    """Serves endpoints; see :func:`webhook_app`."""

    service: str
    endpoints: Sequence[Endpoint]
    publisher: Publisher
    max_body_bytes: int
    metrics: RuntimeMetrics | None = None
    health: Health | None = None
    background: Sequence[Callable[[], Awaitable[None]]] = ()
    clock: Callable[[], float] = time.time
    audit: WebhookAudit | None = None

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
        headers = lower_headers(request.headers.items())
        if endpoint.secret is None or not endpoint.secret.get_secret_value():
            raise Unauthorized(f"webhooks from {endpoint.platform} are not accepted: no secret is "
                               "configured")
        scheme = endpoint.scheme or SCHEMES[endpoint.platform]
        scheme.verify(endpoint.secret.get_secret_value(), body, headers, now=self.clock())
        delivery = Delivery(endpoint.platform, endpoint.path, headers, body, parse_json_object(body),
                            self.clock())
        try:
            publication = await self._interpret(endpoint, delivery)
        except PermanentError as exc:
            if refusal_of(exc) is not None:
                raise  # the request itself is wrong: refused, not dead-lettered
            await self._dead_letter(endpoint, delivery, exc)
            return 200, {"status": "dead_lettered", "reason": str(exc)}
        started = time.monotonic()
        published = await self.publisher.publish(publication)
        if self.audit is not None:
            self.audit.record(endpoint.path, endpoint.platform, publication, published,
                              time.monotonic() - started)
        if published.outcome != "duplicate" or log.isEnabledFor(logging.DEBUG):
            log.info("%s webhook %s: %s", endpoint.platform, published.outcome,
                     ", ".join(published.event_ids) or published.note or "-")
        answer: dict[str, Any] = {"status": published.outcome, "event_ids": published.event_ids}
        if published.note:
            answer["note"] = published.note
        return 200, answer

    async def _interpret(self, endpoint: Endpoint, delivery: Delivery) -> Publication:
        """``endpoint.interpret(delivery)``; a built-in error of the mapping becomes InvalidInput.

        The built-in error's text is kept out of the answer (a ValueError may quote personal data);
        it stays in the cause. A KeyError names the missing field, a ValidationError the invalid ones.
        """
        try:
            result = endpoint.interpret(delivery)
            return await result if inspect.isawaitable(result) else result
        except BusError:
            raise
        except KeyError as exc:
            field = str(exc.args[0]) if exc.args else None
            raise InvalidInput(f"the {endpoint.platform} payload does not fit: KeyError: {exc}",
                               field=field) from exc
        except ValidationError as exc:  # a contract model refused a value: name the fields only
            fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors()) or "(unknown)"
            raise InvalidInput(f"the {endpoint.platform} payload does not fit: invalid {fields}") from exc
        except (TypeError, ValueError, InvalidOperation, AttributeError) as exc:
            raise InvalidInput(f"the {endpoint.platform} payload does not fit: "
                               f"{type(exc).__name__}") from exc

    async def _dead_letter(self, endpoint: Endpoint, delivery: Delivery, exc: PermanentError) -> None:
        now = self.clock()
        failure = Failure(self.service, f"webhook:{endpoint.platform}", "TASK_PUT", exc, 1, now, now,
                          class_name=f"{type(exc).__module__}.{type(exc).__qualname__}")
        original = [(k, v.encode()) for k, v in delivery.headers.items()]
        headers = dead_letter_headers(original, f"http:{endpoint.path}", -1, -1, failure)
        log.warning("%s webhook dead-lettered: %s", endpoint.platform, exc)
        await self.publisher.dead_letter(dlq_topic(self.service), delivery.body, headers)

    def _count(self, endpoint: Endpoint, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.webhooks.labels(self.service, endpoint.platform, outcome).inc()

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(self._heartbeat())] + [asyncio.ensure_future(job())
                                                             for job in self.background]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _heartbeat(self) -> None:
        while True:
            if self.health is not None:
                self.health.beat()
            await asyncio.sleep(1.0)

    def build(self) -> FastAPI:
        app = FastAPI(title=f"ecombus {self.service} webhooks", lifespan=self.lifespan,
                      docs_url=None, redoc_url=None, openapi_url=None)
        for endpoint in self.endpoints:
            app.add_api_route(endpoint.path, self._route(endpoint), methods=["POST"],
                              name=endpoint.platform)
        return app

    def _route(self, endpoint: Endpoint) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def route(request: Request) -> JSONResponse:
            return await self.receive(endpoint, request)

        return route


def webhook_app(service: str, endpoints: Sequence[Endpoint], publisher: Publisher, *,
                max_body_bytes: int, metrics: RuntimeMetrics | None = None, health: Health | None = None,
                background: Sequence[Callable[[], Awaitable[None]]] = (),
                clock: Callable[[], float] = time.time, audit: WebhookAudit | None = None) -> FastAPI:
    """A FastAPI app serving ``endpoints`` (see the module docstring).

    Args:
        service: names the DLQ topic and the ``service`` metrics label.
        endpoints: what to serve.
        publisher: where interpreted deliveries go.
        max_body_bytes: larger bodies are refused with 413.
        metrics: counts webhook outcomes.
        health: beaten every second while the event loop turns (``/healthz``).
        background: coroutines run for the app's lifetime (e.g. reconciliation), cancelled at stop.
        clock: wall clock (signature timestamps).
        audit: writes a ProcessingRecord per webhook that carried events (``ecombus trace``).
    """
    return WebhookApp(service, endpoints, publisher, max_body_bytes, metrics, health, background,
                      clock, audit).build()
