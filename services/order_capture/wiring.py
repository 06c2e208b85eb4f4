"""Declares order-capture's parts on its assembly: the webhook edge and the reconciler.

Parts (see :mod:`bus.assembly`):

* ``webhooks`` (:class:`~bus.webhooks.server.Edge`): in this order, starts the producer's
  polling, loads the dedupe store and the reconciliation cursors, registers the writer schemas
  (a registry that is down is retried by every ``/readyz`` probe instead), then opens the webhook
  port (``/webhooks/shopify``, ``/webhooks/woocommerce``, ``/webhooks/bigcommerce``); at stop it
  answers the requests in flight before releasing the port.
* ``reconciler`` (:class:`~services.order_capture.reconciliation.Reconciling`), when the Shopify
  API is configured and ``reconcile_interval_seconds`` > 0: a pass every interval, the first once
  the webhook edge loaded the stores. It is a part of its own, on its own event loop, not a task
  of the ASGI app: a pass needs nothing of the app (the publisher is shared and thread-safe), and
  a failing reconciler now stops the service instead of dying unseen inside the app.

Closers (run after both parts stopped): the dedupe store's tail is closed, then the producer is
flushed and closed within the assembly's ``shutdown_timeout``.

Readiness (``/readyz`` on the assembly's admin port, 9101): ``kafka`` (the cluster answers),
``schemas`` (the writer schemas are registered), ``webhooks`` (the port is open). Liveness: the
app's event loop beats :attr:`Assembly.health` every second.

Nothing here touches the network; the parts do when the assembly runs them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bus.assembly import Assembly, ServiceDefinition
from bus.contracts.catalog import schema_for_topic
from bus.errors import BusError
from bus.http import ApiClient
from bus.observability.metrics import RuntimeMetrics
from bus.runtime.codec import Codec
from bus.runtime.hooks import RuntimeHooks
from bus.runtime.idempotency import ProcessedEvents
from bus.runtime.producer import BusProducer
from bus.runtime.retry import RetryPolicy
from bus.runtime.service import broker_reachable, default_codec
from bus.settings import KafkaSettings, load
from bus.webhooks import Endpoint, HttpServer, Publisher, webhook_app
from bus.webhooks.audit import WebhookAudit
from bus.webhooks.body import JSON
from bus.webhooks.publisher import webhook_producer_overrides
from bus.webhooks.server import Edge
from bus.webhooks.signatures import StandardWebhooks
from services.order_capture import SERVICE
from services.order_capture.cursor import CursorStore
from services.order_capture.handlers import OrderCapture, Topics, woocommerce_ping
from services.order_capture.reconciliation import Reconciler, Reconciling
from services.order_capture.settings import OrderCaptureSettings

log = logging.getLogger("ecombus.order_capture")


class WriterSchemas:
    """Registers the writer schemas of the service's topics; also its ``schemas`` readiness check.

    Args:
        codec: an :class:`~bus.serde.AvroCodec` registers through its encoder; a codec without
            one (tests) has nothing to register and is ready at once.
        topics: the topics the service writes.
    """

    def __init__(self, codec: Codec, topics: Sequence[str]) -> None:
        self.codec, self.topics = codec, tuple(topics)
        self._registered = False

    def __call__(self) -> bool:
        """True once every schema is registered; retried on each call until then (never raises)."""
        if not self._registered:
            try:
                encoder = getattr(self.codec, "encoder", None)
                for topic in self.topics:
                    if encoder is not None:
                        encoder.schema_id(topic)
                self._registered = True
            except BusError as exc:
                log.warning("schema registry not ready: %s", exc)
        return self._registered


@dataclass(frozen=True)
class OrderCaptureParts:
    """What :func:`build` declared, for tests and tools; the assembly runs it.

    Attributes:
        settings: the service's settings.
        producer: the one producer (webhooks, dedupe marks, cursors, audit).
        processed: the dedupe store (``bus.processed.<dedupe_name>.v1``).
        capture: maps platform payloads to publications.
        publisher: dedupes and produces them.
        edge: the ``webhooks`` part; ``edge.server.url`` is where the webhooks answer.
        cursors: the reconciliation cursors (when the Shopify API is configured).
        reconciler: does reconciliation passes (when the Shopify API is configured; its part,
            ``reconciler``, is declared only when ``reconcile_interval_seconds`` > 0).
    """

    settings: OrderCaptureSettings
    producer: BusProducer
    processed: ProcessedEvents
    capture: OrderCapture
    publisher: Publisher
    edge: Edge
    cursors: CursorStore | None = None
    reconciler: Reconciler | None = None

    @property
    def http(self) -> HttpServer:
        """The webhook server."""
        return self.edge.server


def build(assembly: Assembly, settings: OrderCaptureSettings, kafka: KafkaSettings, *,
          codec: Codec | None = None) -> OrderCaptureParts:
    """Declare order-capture on ``assembly`` (parts, closers, readiness; see the module docstring).

    Its metrics go to ``assembly.metrics`` (the ``service`` label is ``assembly.name``), its
    health to ``assembly.health``; the assembly serves both on its admin port.

    Args:
        assembly: where the parts are declared.
        settings: its settings.
        kafka: how to reach the cluster.
        codec: encodes events (Avro through ``SCHEMA_REGISTRY_URL`` by default, with the
            configured topics mapped to their contracts).

    Returns:
        The wired pieces (nothing started).
    """
    name, metrics, health = assembly.name, assembly.metrics, assembly.health
    client = kafka.client_config()
    hooks = RuntimeHooks(name, metrics, health)
    topics = Topics(settings.orders_topic, settings.customers_topic, settings.status_topic)
    codec = codec or _codec(topics)
    producer = BusProducer(client, on_failure=hooks.delivery_failed,
                           **webhook_producer_overrides(settings.ack_timeout_seconds))
    processed = ProcessedEvents(client, settings.dedupe_name, producer, ttl=settings.dedupe_ttl_seconds)
    publisher = Publisher(producer, codec, processed, settings.ack_timeout_seconds, metrics, name)
    capture = OrderCapture(topics, _bigcommerce_api(settings, metrics, name))
    cursors = reconciler = None
    if settings.shopify_api_url and settings.shopify_shop_domain:
        cursors = CursorStore(client, settings.cursor_topic, producer)
        token = settings.shopify_api_token.get_secret_value() if settings.shopify_api_token else ""
        api = ApiClient("shopify", settings.shopify_api_url, retry=RetryPolicy(), metrics=metrics,
                        service=name, headers={"X-Shopify-Access-Token": token})
        reconciler = Reconciler(api, settings.shopify_shop_domain, capture, publisher, cursors,
                                overlap=settings.reconcile_overlap_seconds,
                                lookback=settings.reconcile_lookback_seconds,
                                max_age=settings.dedupe_ttl_seconds)
    schemas = WriterSchemas(codec, (topics.orders, topics.customers, topics.status))
    audit = WebhookAudit(name, producer, codec) if settings.audit else None
    app = webhook_app(name, endpoints(settings, capture), publisher,
                      max_body_bytes=settings.max_body_bytes, metrics=metrics, health=health, audit=audit)
    http = HttpServer(app, settings.host, settings.port, name=name)
    edge = Edge(http, prepare=[producer.start_polling, processed.start,
                               *([cursors.start] if cursors is not None else []), schemas])
    assembly.add("webhooks", edge)
    if reconciler is not None and settings.reconcile_interval_seconds > 0:
        assembly.add("reconciler", Reconciling(reconciler, settings.reconcile_interval_seconds,
                                               after=edge.prepared, drain_timeout=assembly.shutdown_timeout))

    def close_producer() -> None:
        left = producer.close(assembly.shutdown_timeout)
        log.info("%s stopped (%d records unacknowledged)", name, left)

    assembly.on_close(close_producer)
    assembly.on_close(processed.close)
    health.add_check("kafka", broker_reachable(client))
    health.add_check("schemas", schemas)
    health.add_check("webhooks", lambda: http.started)
    return OrderCaptureParts(settings, producer, processed, capture, publisher, edge, cursors, reconciler)


def endpoints(settings: OrderCaptureSettings, capture: OrderCapture) -> list[Endpoint]:
    """``/webhooks/shopify``, ``/webhooks/woocommerce`` (and its unsigned ping), ``/webhooks/bigcommerce``."""
    return [
        Endpoint("/webhooks/shopify", "shopify", capture.shopify, settings.shopify_webhook_secret),
        Endpoint("/webhooks/woocommerce", "woocommerce", capture.woocommerce,
                 settings.woocommerce_webhook_secret, media_types=(JSON,), ping=woocommerce_ping),
        Endpoint("/webhooks/bigcommerce", "bigcommerce", capture.bigcommerce,
                 settings.bigcommerce_webhook_secret,
                 scheme=StandardWebhooks(settings.signature_tolerance_seconds)),
    ]


def _codec(topics: Topics) -> Codec:
    return default_codec({topics.orders: schema_for_topic("orders.placed.v1"),
                          topics.customers: schema_for_topic("customers.profiles.v1"),
                          topics.status: schema_for_topic("orders.status.v1")}, read_with_them=False)


def _bigcommerce_api(settings: OrderCaptureSettings, metrics: RuntimeMetrics,
                     service: str) -> ApiClient | None:
    """The BigCommerce API client; retries bounded so a webhook is answered within its budget."""
    if settings.bigcommerce_api_token is None:
        return None
    budget = settings.ack_timeout_seconds
    return ApiClient("bigcommerce", settings.bigcommerce_api_url, metrics=metrics, service=service,
                     retry=RetryPolicy(max_attempts=3, initial_backoff=0.1, max_backoff=budget / 3,
                                       budget_seconds=budget, jitter=0.05),
                     headers={"X-Auth-Token": settings.bigcommerce_api_token.get_secret_value()},
                     timeout=budget)


def assemble(assembly: Assembly) -> None:
    """Declare the service's parts from the environment (nothing connects until it runs)."""
    build(assembly, load(OrderCaptureSettings), load(KafkaSettings))


DEFINITION = ServiceDefinition(SERVICE, assemble)
"""What ``ecombus run order-capture`` runs (:func:`bus.assembly.run_service`)."""
