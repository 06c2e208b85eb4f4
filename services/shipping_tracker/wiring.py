"""Builds shipping-tracker from its settings: the webhook side and the consumer side in one process.

* HTTP side: ``/webhooks/easypost`` and ``/webhooks/aftership`` publish ShipmentUpdated
  (deduplicated by carrier event id in ``bus.processed.<name>.webhooks.v1``).
* Consumer side: a :class:`~bus.runtime.service.Service` handler on shipments.tracking.v1
  (``side_effects=True``) pushes fulfillments (remembered in
  ``bus.processed.<name>.fulfillments.v1``) and emits OrderStatusChanged, with every order's
  status rebuilt from orders.status.v1 (:class:`~services.shipping_tracker.statuses.StatusBook`).

Both count into the Service's metrics and answer on its admin port (9104). Nothing here touches
the network; :meth:`ShippingTrackerService.start` does.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from bus.assembly import Assembly, ServiceDefinition
from bus.contracts import models as m
from bus.contracts.catalog import schema_for_topic
from bus.errors import SetupError
from bus.http import ApiClient
from bus.runtime.codec import Codec
from bus.runtime.hooks import RuntimeHooks
from bus.runtime.idempotency import ProcessedEvents
from bus.runtime.producer import BusProducer
from bus.runtime.retry import RetryPolicy
from bus.runtime.service import RuntimeSettings, Service
from bus.settings import KafkaSettings, RegistrySettings, load
from bus.webhooks import Endpoint, HttpServer, Publisher, webhook_app
from bus.webhooks.audit import WebhookAudit
from bus.webhooks.publisher import webhook_producer_overrides
from services.shipping_tracker import SERVICE
from services.shipping_tracker.handlers import ShipmentTracker, TrackingWebhooks
from services.shipping_tracker.settings import ShippingTrackerSettings
from services.shipping_tracker.statuses import StatusBook
from services.shipping_tracker.storefront import Storefront

log = logging.getLogger("ecombus.shipping_tracker")


@dataclass
class ShippingTrackerService:
    """The wired service; :meth:`run` blocks until its stop event is set."""

    settings: ShippingTrackerSettings
    kafka: KafkaSettings
    runtime: RuntimeSettings
    service: Service
    codec: Codec
    book: StatusBook
    fulfilled: ProcessedEvents
    producer: BusProducer
    received: ProcessedEvents
    http: HttpServer
    _stop: threading.Event = field(default_factory=threading.Event)
    _consumer: threading.Thread | None = None

    def start(self, timeout: float = 60.0) -> ShippingTrackerService:
        """Load the dedupe stores and the status book, start consuming, then open the webhook port."""
        self.producer.start_polling()
        self.received.start()
        self.fulfilled.start()
        self.book.start()
        self._consumer = threading.Thread(target=self.service.run, name=f"{self.service.name}-consumer",
                                          daemon=True, kwargs={
            "settings": self.runtime, "kafka": self.kafka, "codec": self.codec, "stop": self._stop,
            "install_signal_handlers": False})
        self._consumer.start()
        deadline = time.monotonic() + timeout
        while self.service.loop is None and self._consumer.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.service.loop is None:
            self.stop()
            raise SetupError("the consumer side of shipping-tracker did not start; see the log above")
        self.http.start()
        log.info("shipping-tracker listening on %s (/webhooks/easypost, /webhooks/aftership)", self.http.url)
        return self

    def stop(self) -> None:
        """Answer in-flight webhooks, drain the consumer, flush and close."""
        self.http.stop()
        self._stop.set()
        if self._consumer is not None:
            self._consumer.join(self.runtime.shutdown_timeout_seconds + 5)
        self.book.close()
        self.fulfilled.close()
        self.received.close()
        self.producer.close(10)

    def run(self, stop: threading.Event) -> None:
        self.start()
        try:
            while not stop.wait(1.0):
                if self._consumer is not None and not self._consumer.is_alive():
                    raise SetupError("the consumer side of shipping-tracker stopped; see the log above")
        finally:
            self.stop()


def build(settings: ShippingTrackerSettings, kafka: KafkaSettings, *, runtime: RuntimeSettings | None = None,
          codec: Codec | None = None, name: str = SERVICE) -> ShippingTrackerService:
    """Wire shipping-tracker.

    Args:
        settings / kafka / runtime: its settings (``ECOMBUS_*`` runtime settings by default).
        codec: Avro through ``SCHEMA_REGISTRY_URL`` by default, the configured topics mapped to
            their contracts.
        name: the service name (group ``ecombus.<name>``, ``dlq.<name>``, admin port, metrics).
    """
    client = kafka.client_config()
    codec = codec or _codec(settings)
    runtime = runtime or load(RuntimeSettings)
    service = Service(name)
    metrics = service.metrics
    token = settings.storefront_api_token.get_secret_value() if settings.storefront_api_token else ""
    api = ApiClient("storefront", settings.storefront_api_url, metrics=metrics, service=name,
                    retry=RetryPolicy(max_attempts=4, initial_backoff=0.5, budget_seconds=20),
                    headers={"X-Shopify-Access-Token": token})
    storefront = Storefront(api, settings.storefront_platform, settings.storefront_system,
                            notify_customer=settings.notify_customer)
    producer = BusProducer(client, on_failure=RuntimeHooks(name, metrics).delivery_failed,
                           **webhook_producer_overrides(settings.ack_timeout_seconds))
    fulfilled = ProcessedEvents(client, f"{name}.fulfillments", producer, ttl=settings.dedupe_ttl_seconds)
    received = ProcessedEvents(client, f"{name}.webhooks", producer, ttl=settings.dedupe_ttl_seconds)
    book = StatusBook(client, settings.status_topic, codec)
    tracker = ShipmentTracker(book, storefront, fulfilled, settings.status_topic)
    service.handler(settings.shipments_topic, name="track_shipment", side_effects=True,
                    model=m.ShipmentUpdated)(tracker.track)
    webhooks = TrackingWebhooks(settings.shipments_topic, storefront)
    endpoints = [
        Endpoint("/webhooks/easypost", "easypost", webhooks.easypost, settings.easypost_webhook_secret),
        Endpoint("/webhooks/aftership", "aftership", webhooks.aftership, settings.aftership_webhook_secret)]
    publisher = Publisher(producer, codec, received, settings.ack_timeout_seconds, metrics, name)
    audit = WebhookAudit(name, producer, codec) if runtime.audit else None
    app = webhook_app(name, endpoints, publisher, max_body_bytes=settings.max_body_bytes, metrics=metrics,
                      audit=audit)
    http = HttpServer(app, settings.host, settings.port, name=name)
    service.health.add_check("status_book", lambda: book.loaded)
    service.health.add_check("webhooks", lambda: http.started)
    return ShippingTrackerService(settings, kafka, runtime, service, codec, book,
                                  fulfilled, producer, received, http)


def _codec(settings: ShippingTrackerSettings) -> Codec:
    from bus.serde import AvroCodec, RegistryClient

    schemas = {settings.shipments_topic: schema_for_topic("shipments.tracking.v1"),
               settings.status_topic: schema_for_topic("orders.status.v1")}
    return AvroCodec(RegistryClient.from_settings(load(RegistrySettings)), writer_schemas=schemas,
                     reader_schemas=schemas)


def assemble(assembly: Assembly) -> None:
    """Declare the service's parts from the environment (nothing connects until it runs)."""
    assembly.add(SERVICE, build(load(ShippingTrackerSettings), load(KafkaSettings)))


DEFINITION = ServiceDefinition(SERVICE, assemble)
"""What ``ecombus run shipping-tracker`` runs (:func:`bus.assembly.run_service`)."""
