"""Builds order-capture from its settings: producer, dedupe store, codec, endpoints, servers.

Nothing here touches the network; :meth:`OrderCaptureService.start` does (it loads the dedupe
store and the cursors, registers the writer schemas, then opens the admin and webhook ports).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from bus.assembly import Assembly, ServiceDefinition
from bus.contracts.catalog import schema_for_topic
from bus.errors import BusError
from bus.http import ApiClient
from bus.observability.admin_server import AdminServer, admin_address
from bus.observability.health import Health
from bus.observability.metrics import RuntimeMetrics
from bus.runtime.codec import Codec
from bus.runtime.hooks import RuntimeHooks
from bus.runtime.idempotency import ProcessedEvents
from bus.runtime.producer import BusProducer
from bus.runtime.retry import RetryPolicy
from bus.runtime.service import broker_reachable
from bus.settings import KafkaSettings, RegistrySettings, load
from bus.webhooks import Endpoint, HttpServer, Publisher, webhook_app
from bus.webhooks.audit import WebhookAudit
from bus.webhooks.body import JSON
from bus.webhooks.publisher import webhook_producer_overrides
from bus.webhooks.signatures import StandardWebhooks
from services.order_capture import SERVICE
from services.order_capture.cursor import CursorStore
from services.order_capture.handlers import OrderCapture, Topics, woocommerce_ping
from services.order_capture.reconciliation import Reconciler
from services.order_capture.settings import OrderCaptureSettings

log = logging.getLogger("ecombus.order_capture")


@dataclass
class OrderCaptureService:
    """The wired service; :meth:`run` blocks until its stop event is set."""

    settings: OrderCaptureSettings
    producer: BusProducer
    processed: ProcessedEvents
    codec: Codec
    capture: OrderCapture
    publisher: Publisher
    health: Health
    admin: AdminServer
    http: HttpServer
    cursors: CursorStore | None = None
    reconciler: Reconciler | None = None
    topics: Topics = field(default_factory=Topics)
    _schemas_ready: bool = False

    def start(self) -> OrderCaptureService:
        """Load the dedupe store (and cursors), register schemas, open the ports."""
        self.producer.start_polling()
        self.processed.start()
        if self.cursors is not None:
            self.cursors.start()
        self.schemas_ready()
        self.admin.start()
        self.http.start()
        log.info("order-capture listening on %s (/webhooks/shopify, /webhooks/woocommerce, "
                 "/webhooks/bigcommerce); admin on %s", self.http.url, self.admin.url)
        return self

    def schemas_ready(self) -> bool:
        """Readiness: the writer schemas are registered (retried on every probe until they are)."""
        if not self._schemas_ready:
            try:
                encoder = getattr(self.codec, "encoder", None)  # AvroCodec: register up front
                for topic in (self.topics.orders, self.topics.customers, self.topics.status):
                    if encoder is not None:
                        encoder.schema_id(topic)
                self._schemas_ready = True
            except BusError as exc:
                log.warning("schema registry not ready: %s", exc)
        return self._schemas_ready

    def stop(self) -> None:
        """Finish in-flight webhooks, then flush and close."""
        self.http.stop()
        self.admin.stop()
        self.processed.close()
        left = self.producer.close(10)
        log.info("order-capture stopped (%d records unacknowledged)", left)

    def run(self, stop: threading.Event) -> None:
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()


def build(settings: OrderCaptureSettings, kafka: KafkaSettings, *, codec: Codec | None = None,
          registry: CollectorRegistry | None = None,
          admin: tuple[str, int] | None = None) -> OrderCaptureService:
    """Wire order-capture.

    Args:
        settings: its settings.
        kafka: how to reach the cluster.
        codec: encodes events (Avro through ``SCHEMA_REGISTRY_URL`` by default, with the
            configured topics mapped to their contracts).
        registry: metrics registry (a fresh one by default).
        admin: (host, port) of the admin server (9101 or ``ECOMBUS_ADMIN_*`` by default).
    """
    client = kafka.client_config()
    registry = registry if registry is not None else CollectorRegistry()
    metrics = RuntimeMetrics(SERVICE, registry)
    health = Health()
    hooks = RuntimeHooks(SERVICE, metrics, health)
    topics = Topics(settings.orders_topic, settings.customers_topic, settings.status_topic)
    codec = codec or _codec(topics)
    producer = BusProducer(client, on_failure=hooks.delivery_failed,
                           **webhook_producer_overrides(settings.ack_timeout_seconds))
    processed = ProcessedEvents(client, settings.dedupe_name, producer, ttl=settings.dedupe_ttl_seconds)
    publisher = Publisher(producer, codec, processed, settings.ack_timeout_seconds, metrics, SERVICE)
    capture = OrderCapture(topics, _bigcommerce_api(settings, metrics))
    cursors = reconciler = None
    if settings.shopify_api_url and settings.shopify_shop_domain:
        cursors = CursorStore(client, settings.cursor_topic, producer)
        token = settings.shopify_api_token.get_secret_value() if settings.shopify_api_token else ""
        api = ApiClient("shopify", settings.shopify_api_url, retry=RetryPolicy(), metrics=metrics,
                        service=SERVICE, headers={"X-Shopify-Access-Token": token})
        reconciler = Reconciler(api, settings.shopify_shop_domain, capture, publisher, cursors,
                                overlap=settings.reconcile_overlap_seconds,
                                lookback=settings.reconcile_lookback_seconds,
                                max_age=settings.dedupe_ttl_seconds)
    background = []
    if reconciler is not None and settings.reconcile_interval_seconds > 0:
        interval = settings.reconcile_interval_seconds
        background.append(lambda: reconciler.run_forever(interval))
    audit = WebhookAudit(SERVICE, producer, codec) if settings.audit else None
    app = webhook_app(SERVICE, endpoints(settings, capture), publisher,
                      max_body_bytes=settings.max_body_bytes, metrics=metrics, health=health,
                      background=background, audit=audit)
    host, port = admin or admin_address(SERVICE)
    service = OrderCaptureService(settings, producer, processed, codec, capture, publisher, health,
                                  AdminServer(registry, health, host, port),
                                  HttpServer(app, settings.host, settings.port, name=SERVICE),
                                  cursors, reconciler, topics)
    health.add_check("kafka", broker_reachable(client))
    health.add_check("schemas", service.schemas_ready)
    health.add_check("webhooks", lambda: service.http.started)
    return service


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
    from bus.serde import AvroCodec, RegistryClient

    return AvroCodec(RegistryClient.from_settings(load(RegistrySettings)), writer_schemas={
        topics.orders: schema_for_topic("orders.placed.v1"),
        topics.customers: schema_for_topic("customers.profiles.v1"),
        topics.status: schema_for_topic("orders.status.v1")})


def _bigcommerce_api(settings: OrderCaptureSettings, metrics: RuntimeMetrics) -> ApiClient | None:
    """The BigCommerce API client; retries bounded so a webhook is answered within its budget."""
    if settings.bigcommerce_api_token is None:
        return None
    budget = settings.ack_timeout_seconds
    return ApiClient("bigcommerce", settings.bigcommerce_api_url, metrics=metrics, service=SERVICE,
                     retry=RetryPolicy(max_attempts=3, initial_backoff=0.1, max_backoff=budget / 3,
                                       budget_seconds=budget, jitter=0.05),
                     headers={"X-Auth-Token": settings.bigcommerce_api_token.get_secret_value()},
                     timeout=budget)


def assemble(assembly: Assembly) -> None:
    """Declare the service's parts from the environment (nothing connects until it runs)."""
    assembly.add(SERVICE, build(load(OrderCaptureSettings), load(KafkaSettings)))


DEFINITION = ServiceDefinition(SERVICE, assemble)
"""What ``ecombus run order-capture`` runs (:func:`bus.assembly.run_service`)."""
