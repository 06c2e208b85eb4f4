"""Declares order-capture's parts on its assembly: the webhook edge, the intake stage, the reconciler.

Parts (see :mod:`bus.assembly`):

* ``webhooks`` (:class:`~bus.webhooks.server.Edge`): in this order, starts the producer's
  polling, loads the reconciliation cursors, registers the writer schemas (a registry that is
  down is retried by every ``/readyz`` probe instead), then opens the webhook port
  (``/webhooks/shopify``, ``/webhooks/woocommerce``, ``/webhooks/bigcommerce``). A request is
  checked (media type, size, shop, signature, JSON), stored as it came on
  ``intake.storefronts.v1`` keyed by the order id, and answered 200 once the broker acknowledged
  it; nothing is mapped on the request path. At stop it answers the requests in flight before
  releasing the port.
* ``intake`` (a :class:`~bus.runtime.service.Service` made an exactly-once
  :class:`~bus.runtime.service.Stage`, group ``ecombus.order-capture.intake``): interprets each
  stored delivery once per dedupe key (:meth:`OrderCapture.interpret`) and produces the
  OrderPlaced, CustomerUpserted and OrderStatusChanged, the after-sale events (OrderCancelled,
  OrderRefunded, ReturnUpdated, DisputeUpdated), the dedupe marks (changelog
  ``order-capture.intake.changelog``), the audit record and the consumed offset in one
  transaction; a delivery that cannot be interpreted is dead-lettered to ``dlq.order-capture``
  with its raw bytes. Replicas share the group: each partition (each order) has one owner.
* ``reconciler`` (:class:`~services.order_capture.reconciliation.Reconciling`), when the Shopify
  API is configured and ``reconcile_interval_seconds`` > 0: a pass every interval, storing the
  listed orders on the intake (channel ``reconciliation``), where the stage publishes those no
  webhook delivered.

Closers (run after the parts stopped): the producer is flushed and closed within the assembly's
``shutdown_timeout``, then the stage's dedupe store is closed.

Readiness (``/readyz`` on the assembly's admin port, 9101): ``kafka`` (the cluster answers),
``schemas`` (the writer schemas are registered), ``webhooks`` (the port is open),
``interpreting`` (the stage's loop turns). Liveness: the loops beat :attr:`Assembly.health`.

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
from bus.runtime.dedupe_state import DedupeState
from bus.runtime.hooks import RuntimeHooks
from bus.runtime.producer import BusProducer
from bus.runtime.retry import RetryPolicy
from bus.runtime.service import RuntimeSettings, Service, broker_reachable, default_codec
from bus.settings import KafkaSettings, load
from bus.webhooks import Endpoint, HttpServer, webhook_app
from bus.webhooks.body import JSON
from bus.webhooks.intake import IntakeLog, intake_producer_overrides
from bus.webhooks.server import Edge
from bus.webhooks.signatures import StandardWebhooks
from bus.webhooks.stage import Interpreter, intake_stage, prepare_intake
from bus.webhooks.tenants import Tenants
from services.order_capture import SERVICE
from services.order_capture.aftersale_rules import AfterSaleTopics
from services.order_capture.cursor import CursorStore
from services.order_capture.handlers import (
    Identities,
    OrderCapture,
    Topics,
    shop_header,
    woocommerce_ping,
    woocommerce_site_header,
)
from services.order_capture.reconciliation import Reconciler, Reconciling
from services.order_capture.settings import OrderCaptureSettings

log = logging.getLogger("ecombus.order_capture")

SHOPS_SETTING = "ECOMBUS_ORDER_CAPTURE_SHOPS"


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
        producer: the edge's producer (raw deliveries, reconciliation cursors).
        intake: stores raw deliveries on the intake topic.
        capture: what a delivery means (the stage's rules).
        stage: the ``intake`` part (``stage.loop`` is its consumer loop once it runs); None when
            this process runs only the webhooks (``ECOMBUS_ORDER_CAPTURE_PARTS``).
        dedupe: the stage's dedupe state (None without the stage).
        edge: the ``webhooks`` part; ``edge.server.url`` is where the webhooks answer.
        cursors: the reconciliation cursors (when the Shopify API is configured).
        reconciler: does reconciliation passes (when the Shopify API is configured; its part,
            ``reconciler``, is declared only when ``reconcile_interval_seconds`` > 0).
    """

    settings: OrderCaptureSettings
    producer: BusProducer
    intake: IntakeLog
    capture: OrderCapture
    stage: Service | None
    dedupe: DedupeState | None
    edge: Edge
    cursors: CursorStore | None = None
    reconciler: Reconciler | None = None

    @property
    def http(self) -> HttpServer:
        """The webhook server."""
        return self.edge.server


def build(assembly: Assembly, settings: OrderCaptureSettings, kafka: KafkaSettings, *,
          codec: Codec | None = None, runtime: RuntimeSettings | None = None) -> OrderCaptureParts:
    """Declare order-capture on ``assembly`` (parts, closers, readiness; see the module docstring).

    Its metrics go to ``assembly.metrics`` (the ``service`` label is ``assembly.name``), its
    health to ``assembly.health``; the assembly serves both on its admin port.

    Args:
        assembly: where the parts are declared.
        settings: its settings.
        kafka: how to reach the cluster.
        codec: encodes and decodes events (Avro through ``SCHEMA_REGISTRY_URL`` by default, with
            the configured topics mapped to their contracts).
        runtime: the stage's runtime settings (``ECOMBUS_*`` by default).

    Returns:
        The wired pieces (nothing started).
    """
    name, metrics, health = assembly.name, assembly.metrics, assembly.health
    client = kafka.client_config()
    runtime = runtime or load(RuntimeSettings)
    hooks = RuntimeHooks(name, metrics, health)
    topics = Topics(settings.orders_topic, settings.customers_topic, settings.status_topic,
                    AfterSaleTopics(settings.cancellations_topic, settings.refunds_topic,
                                    settings.returns_topic, settings.disputes_topic))
    codec = codec or _codec(settings, topics)
    producer = BusProducer(client, on_failure=hooks.delivery_failed,
                           **intake_producer_overrides(settings.ack_timeout_seconds, settings.max_body_bytes))
    intake = IntakeLog(producer, codec, settings.intake_topic, name, ack_timeout=settings.ack_timeout_seconds,
                       metrics=metrics)
    capture = OrderCapture(topics, _bigcommerce_api(settings, metrics, name),
                           woocommerce_api=_woocommerce_api(settings, metrics, name))

    stage = dedupe = None
    if settings.runs("intake"):
        stage_settings, dedupe = intake_stage(
            name, client, settings.intake_topic, settings.intake_changelog_topic,
            ttl=settings.dedupe_ttl_seconds, max_body_bytes=settings.max_body_bytes,
            folder=settings.state_dir, group_id=settings.intake_group_id, instance=runtime.instance_id)
        stage = Service(name, metrics=metrics, health=health, settings=runtime,
                        kafka=kafka, codec=codec, stage=stage_settings)
        interpret = Interpreter(dedupe, capture.interpret)
        stage.handler(settings.intake_topic, name="interpret_delivery")(interpret)
        stage.on_start(prepare_intake(client, name, dedupe, settings.max_body_bytes))
        assembly.add("intake", stage)
        assembly.on_close(dedupe.close)

    cursors = reconciler = None
    if settings.shopify_api_url and settings.shopify_shop_domain:
        cursors = CursorStore(client, settings.cursor_topic, producer)
        token = settings.shopify_api_token.get_secret_value() if settings.shopify_api_token else ""
        api = ApiClient("shopify", settings.shopify_api_url, retry=RetryPolicy(), metrics=metrics,
                        service=name, headers={"X-Shopify-Access-Token": token})
        reconciler = Reconciler(api, settings.shopify_shop_domain, intake, cursors,
                                overlap=settings.reconcile_overlap_seconds,
                                lookback=settings.reconcile_lookback_seconds,
                                max_age=settings.dedupe_ttl_seconds)
    schemas = WriterSchemas(codec, (settings.intake_topic, topics.orders, topics.customers, topics.status,
                                    *topics.after_sale.all()))
    tenants = Tenants(settings.shops, SHOPS_SETTING)
    if not settings.shops:
        log.warning("no shops are configured (%s): every storefront delivery will be refused", SHOPS_SETTING)
    app = webhook_app(name, endpoints(settings, capture), intake, max_body_bytes=settings.max_body_bytes,
                      metrics=metrics, health=health, tenants=tenants)
    http = HttpServer(app, settings.host, settings.port, name=name)
    edge = Edge(http, prepare=[producer.start_polling, *([cursors.start] if cursors is not None else []),
                               schemas])
    if settings.runs("webhooks"):
        assembly.add("webhooks", edge)
        health.add_check("webhooks", lambda: http.started)
    if reconciler is not None and settings.reconcile_interval_seconds > 0 and settings.runs("webhooks"):
        assembly.add("reconciler", Reconciling(reconciler, settings.reconcile_interval_seconds,
                                               after=edge.prepared, drain_timeout=assembly.shutdown_timeout))

    def close_producer() -> None:
        left = producer.close(assembly.shutdown_timeout)
        log.info("%s webhooks stopped (%d records unacknowledged)", name, left)

    assembly.on_close(close_producer)
    health.add_check("schemas", schemas)
    health.add_check("kafka", broker_reachable(client))
    return OrderCaptureParts(settings, producer, intake, capture, stage, dedupe, edge, cursors, reconciler)


def endpoints(settings: OrderCaptureSettings, capture: OrderCapture) -> list[Endpoint]:
    """``/webhooks/shopify``, ``/webhooks/woocommerce`` (and its unsigned ping), ``/webhooks/bigcommerce``."""
    return [
        Endpoint("/webhooks/shopify", "shopify", Identities.shopify, settings.shopify_webhook_secret,
                 tenant_of=shop_header),
        Endpoint("/webhooks/woocommerce", "woocommerce", Identities.woocommerce,
                 settings.woocommerce_webhook_secret, media_types=(JSON,), ping=woocommerce_ping,
                 tenant_of=woocommerce_site_header),
        Endpoint("/webhooks/bigcommerce", "bigcommerce", Identities.bigcommerce,
                 settings.bigcommerce_webhook_secret,
                 scheme=StandardWebhooks(settings.signature_tolerance_seconds)),
    ]


def _codec(settings: OrderCaptureSettings, topics: Topics) -> Codec:
    return default_codec({settings.intake_topic: schema_for_topic("intake.storefronts.v1"),
                          topics.orders: schema_for_topic("orders.placed.v1"),
                          topics.customers: schema_for_topic("customers.profiles.v1"),
                          topics.status: schema_for_topic("orders.status.v1"),
                          **{topic: schema_for_topic(default) for topic, default in
                             zip(topics.after_sale.all(), AfterSaleTopics().all(), strict=True)}})


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


def _woocommerce_api(settings: OrderCaptureSettings, metrics: RuntimeMetrics,
                     service: str) -> ApiClient | None:
    """The WooCommerce REST API client (refund lines), when its URL and keys are configured."""
    key, secret = settings.woocommerce_api_key, settings.woocommerce_api_secret
    if not settings.woocommerce_api_url or key is None or secret is None:
        return None
    return ApiClient("woocommerce", settings.woocommerce_api_url, metrics=metrics, service=service,
                     retry=RetryPolicy(max_attempts=3, initial_backoff=0.1, max_backoff=1.0,
                                       budget_seconds=3.0, jitter=0.05),
                     auth=(key.get_secret_value(), secret.get_secret_value()), timeout=3.0)


def assemble(assembly: Assembly) -> None:
    """Declare the service's parts from the environment (nothing connects until it runs)."""
    build(assembly, load(OrderCaptureSettings), load(KafkaSettings))


DEFINITION = ServiceDefinition(SERVICE, assemble)
"""What ``ecombus run order-capture`` runs (:func:`bus.assembly.run_service`)."""
