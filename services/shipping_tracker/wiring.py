"""Declares shipping-tracker's parts on its assembly: the consumer side and the carrier webhooks.

Parts (see :mod:`bus.assembly`):

* ``consumer`` (a :class:`~bus.runtime.service.Service`): a consumer loop on
  shipments.tracking.v1 whose handler (``side_effects=True``) pushes fulfillments (remembered in
  ``bus.processed.<name>.fulfillments.v1``) and emits OrderStatusChanged, with every order's
  status rebuilt from orders.status.v1 (:class:`~services.shipping_tracker.statuses.StatusBook`).
  Its start steps load the fulfillments and the status book; then it loads its dedupe store
  (``bus.processed.<name>.v1``) and consumes; at stop it finishes the batch in hand, waits for
  its acknowledgements, commits and closes its producer and dedupe store.
* ``intake`` (a :class:`~bus.runtime.service.Service` made an exactly-once
  :class:`~bus.runtime.service.Stage`, group ``ecombus.<name>.intake``): interprets each stored
  carrier webhook once per carrier event id into a ShipmentUpdated (order references looked up
  at the store), produced with its dedupe mark (``shipping-tracker.intake.changelog``), its
  audit record and the consumed offset in one transaction; one that cannot be interpreted is
  dead-lettered with its raw bytes.
* ``webhooks`` (:class:`~bus.webhooks.server.Edge`): ``/webhooks/easypost`` and
  ``/webhooks/aftership`` check (media type, size, signature, JSON), store the delivery as it came
  on ``intake.carriers.v1`` keyed by the tracking number, and answer once the broker
  acknowledged it. It waits for the consumer side to be loaded, then opens the port; at stop it
  answers the requests in flight.

Closers (after the parts stopped): the status book, the fulfillments store and the intake
stage's dedupe store, then the webhooks' producer, flushed within the assembly's
``shutdown_timeout``.

Both sides count into :attr:`Assembly.metrics` and answer on its admin port (9104); readiness:
``kafka``, ``consuming`` (the loop turned), ``status_book`` (read to its end), ``webhooks`` (the
port is open); liveness: the consumer loop beats. Nothing here touches the network; the parts do
when the assembly runs them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bus.assembly import Assembly, ServiceDefinition
from bus.contracts import models as m
from bus.contracts.catalog import schema_for_topic
from bus.http import ApiClient
from bus.runtime.codec import Codec
from bus.runtime.hooks import RuntimeHooks
from bus.runtime.idempotency import ProcessedEvents
from bus.runtime.producer import BusProducer
from bus.runtime.retry import RetryPolicy
from bus.runtime.service import RuntimeSettings, Service, default_codec
from bus.settings import KafkaSettings, load
from bus.webhooks import Endpoint, HttpServer, webhook_app
from bus.webhooks.intake import IntakeLog, intake_producer_overrides
from bus.webhooks.server import Edge
from bus.webhooks.stage import Interpreter, intake_stage, prepare_intake
from services.shipping_tracker import SERVICE
from services.shipping_tracker.handlers import CarrierIdentities, ShipmentTracker, TrackingWebhooks
from services.shipping_tracker.settings import ShippingTrackerSettings
from services.shipping_tracker.statuses import StatusBook
from services.shipping_tracker.storefront import Storefront

log = logging.getLogger("ecombus.shipping_tracker")


@dataclass(frozen=True)
class ShippingTrackerParts:
    """What :func:`build` declared, for tests and tools; the assembly runs it.

    Attributes:
        settings / runtime: its settings.
        book: every order's current status.
        consumer: the ``consumer`` part (``consumer.loop`` is the loop once it runs).
        stage: the ``intake`` part, interpreting stored carrier webhooks.
        edge: the ``webhooks`` part; ``edge.server.url`` is where the carrier webhooks answer.
    """

    settings: ShippingTrackerSettings
    runtime: RuntimeSettings
    book: StatusBook
    consumer: Service
    stage: Service
    edge: Edge

    @property
    def http(self) -> HttpServer:
        """The webhook server."""
        return self.edge.server


def build(assembly: Assembly, settings: ShippingTrackerSettings, kafka: KafkaSettings, *,
          runtime: RuntimeSettings | None = None, codec: Codec | None = None) -> ShippingTrackerParts:
    """Declare shipping-tracker on ``assembly`` (parts, closers, readiness; see the module docstring).

    ``assembly.name`` names the consumer group (``ecombus.<name>`` unless ``runtime.group_id``
    says otherwise), ``dlq.<name>``, the dedupe topics and the ``service`` metrics label.

    Args:
        assembly: where the parts are declared.
        settings / kafka / runtime: its settings (``ECOMBUS_*`` runtime settings by default).
        codec: Avro through ``SCHEMA_REGISTRY_URL`` by default, the configured topics mapped to
            their contracts.

    Returns:
        The wired pieces (nothing started).
    """
    name, metrics, health = assembly.name, assembly.metrics, assembly.health
    client = kafka.client_config()
    codec = codec or _codec(settings)
    runtime = runtime or load(RuntimeSettings)
    token = settings.storefront_api_token.get_secret_value() if settings.storefront_api_token else ""
    api = ApiClient("storefront", settings.storefront_api_url, metrics=metrics, service=name,
                    retry=RetryPolicy(max_attempts=4, initial_backoff=0.5, budget_seconds=20),
                    headers={"X-Shopify-Access-Token": token})
    storefront = Storefront(api, settings.storefront_platform, settings.storefront_system,
                            notify_customer=settings.notify_customer)
    producer = BusProducer(client, on_failure=RuntimeHooks(name, metrics).delivery_failed,
                           **intake_producer_overrides(settings.ack_timeout_seconds, settings.max_body_bytes))
    fulfilled = ProcessedEvents(client, f"{name}.fulfillments", producer, ttl=settings.dedupe_ttl_seconds)
    book = StatusBook(client, settings.status_topic, codec)

    consumer = Service(name, metrics=metrics, health=health, settings=runtime, kafka=kafka, codec=codec)
    tracker = ShipmentTracker(book, storefront, fulfilled, settings.status_topic)
    consumer.handler(settings.shipments_topic, name="track_shipment", side_effects=True,
                     model=m.ShipmentUpdated)(tracker.track)
    consumer.on_start(fulfilled.start)
    consumer.on_start(book.start)
    assembly.add_service(consumer)

    stage_settings, dedupe = intake_stage(
        name, client, settings.intake_topic, settings.intake_changelog_topic, ttl=settings.dedupe_ttl_seconds,
        max_body_bytes=settings.max_body_bytes, folder=settings.state_dir,
        group_id=settings.intake_group_id, instance=runtime.instance_id)
    stage = Service(name, metrics=metrics, health=health, settings=runtime, kafka=kafka, codec=codec,
                    stage=stage_settings)
    webhooks = TrackingWebhooks(settings.shipments_topic, storefront)
    stage.handler(settings.intake_topic, name="interpret_delivery")(Interpreter(dedupe, webhooks.interpret))
    stage.on_start(prepare_intake(client, name, dedupe, settings.max_body_bytes))
    assembly.add("intake", stage)

    endpoints = [
        Endpoint("/webhooks/easypost", "easypost", CarrierIdentities.easypost,
                 settings.easypost_webhook_secret),
        Endpoint("/webhooks/aftership", "aftership", CarrierIdentities.aftership,
                 settings.aftership_webhook_secret)]
    intake = IntakeLog(producer, codec, settings.intake_topic, name, ack_timeout=settings.ack_timeout_seconds,
                       metrics=metrics)
    app = webhook_app(name, endpoints, intake, max_body_bytes=settings.max_body_bytes, metrics=metrics)
    http = HttpServer(app, settings.host, settings.port, name=name)
    edge = Edge(http, prepare=[producer.start_polling], after=[consumer.started])
    assembly.add("webhooks", edge)

    def close_producer() -> None:
        left = producer.close(assembly.shutdown_timeout)
        log.info("%s webhooks stopped (%d records unacknowledged)", name, left)

    assembly.on_close(close_producer)
    assembly.on_close(dedupe.close)
    assembly.on_close(fulfilled.close)
    assembly.on_close(book.close)
    health.add_check("status_book", lambda: book.loaded)
    health.add_check("webhooks", lambda: http.started)
    return ShippingTrackerParts(settings, runtime, book, consumer, stage, edge)


def _codec(settings: ShippingTrackerSettings) -> Codec:
    schemas = {settings.shipments_topic: schema_for_topic("shipments.tracking.v1"),
               settings.status_topic: schema_for_topic("orders.status.v1"),
               settings.intake_topic: schema_for_topic("intake.carriers.v1")}
    return default_codec(schemas)


def assemble(assembly: Assembly) -> None:
    """Declare the service's parts from the environment (nothing connects until it runs)."""
    build(assembly, load(ShippingTrackerSettings), load(KafkaSettings))


DEFINITION = ServiceDefinition(SERVICE, assemble)
"""What ``ecombus run shipping-tracker`` runs (:func:`bus.assembly.run_service`)."""
