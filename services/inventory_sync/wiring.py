"""Declares inventory-sync's parts on an :class:`~bus.assembly.Assembly` (see :func:`build`).

Nothing here talks to the network until the assembly runs. Its "consumer" part then, in this
order, fences any previous instance, creates missing internal topics, reads positions and
decided orders back into the book (:meth:`InventorySync.restore`, the consumer's start step),
and runs the exactly-once consumer loop until ``stop`` is set; the "storefront-pusher" part
starts only once that restore finished. After both drained, the pusher's producer is flushed
and closed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from bus.assembly import Assembly, ServiceDefinition
from bus.contracts import models as m
from bus.contracts.catalog import schema_for_topic
from bus.http import ApiClient
from bus.runtime.codec import Codec
from bus.runtime.dlq import dlq_topic
from bus.runtime.retry import RetryPolicy
from bus.runtime.service import RuntimeSettings, Service, default_codec
from bus.runtime.state_store import fence
from bus.runtime.table import read_to_end
from bus.settings import KafkaSettings, load
from bus.sinks import Feed
from bus.topics import TopicSpec, ensure_topics
from services.inventory_sync import SERVICE
from services.inventory_sync.allocation import StockBook
from services.inventory_sync.changelog import LEDGER, POSITION, ledger_from_record, position_from_record
from services.inventory_sync.coalescer import StockPusher
from services.inventory_sync.handlers import StockKeeper
from services.inventory_sync.settings import InventorySyncSettings
from services.inventory_sync.sku_map import SkuMap
from services.inventory_sync.storefront import LeakyBucket, StorefrontInventory

log = logging.getLogger(__name__)


@dataclass
class InventorySync:
    """What :func:`build` declared: the consumer service, the book it keeps, the pusher."""

    service: Service
    settings: InventorySyncSettings
    runtime: RuntimeSettings
    kafka: KafkaSettings
    codec: Codec
    book: StockBook
    pusher: StockPusher

    @property
    def group_id(self) -> str:
        return self.runtime.group_id or f"ecombus.{SERVICE}"

    def restore(self) -> tuple[int, int]:
        """Fence previous instances, then load positions, order ledgers and decided orders; returns the
        counts of positions and decided orders."""
        client, settings = self.kafka.client_config(), self.settings
        fence(client, self.group_id)
        ensure_topics(client, [TopicSpec(name=settings.changelog_topic, partitions=6,
                                         config={"cleanup.policy": "compact"}),
                               TopicSpec(name=settings.ledger_topic, partitions=6,
                                         config={"cleanup.policy": "compact"}),
                               TopicSpec(name=dlq_topic(SERVICE), partitions=1,
                                         config={"retention.ms": str(30 * 86_400_000)})])
        timeout = settings.restore_timeout_seconds
        with self.book.lock:
            for msg in read_to_end(client, settings.changelog_topic, timeout):
                if msg.value() is not None:
                    record = self.codec.decode(settings.changelog_topic, msg.value() or b"")
                    self.book.restored(position_from_record(record))
            for msg in read_to_end(client, settings.ledger_topic, timeout):
                if msg.value() is not None:
                    ledger = ledger_from_record(self.codec.decode(settings.ledger_topic, msg.value() or b""))
                    self.book.ledgers[ledger.order_id] = ledger
            self.book.gather_waiting()
            for msg in read_to_end(client, settings.reservations_topic, timeout):
                self.book.decided.add((msg.key() or b"").decode())
        book = self.book
        log.info("restored %d SKU positions, %d decided orders (%d with a ledger), %d orders waiting for "
                 "stock", len(book.positions), len(book.decided), len(book.ledgers), len(book.parked))
        return len(self.book.positions), len(self.book.decided)


def build(assembly: Assembly, settings: InventorySyncSettings, runtime: RuntimeSettings,
          kafka: KafkaSettings, *, codec: Codec | None = None,
          transport: httpx.BaseTransport | None = None) -> InventorySync:
    """Declare inventory-sync on ``assembly`` (exactly-once, whatever ``runtime.exactly_once`` says).

    Declares the "consumer" part (start step :meth:`InventorySync.restore`, then the loop), the
    "storefront-pusher" part (started once the restore finished) and the closer of the pusher's
    producer; the loop's and the pusher's series go to ``assembly.registry``, readiness to
    ``assembly.health``.

    Args:
        assembly: the service's assembly (named inventory-sync).
        settings, runtime, kafka: the service's, the runtime's and the cluster's settings.
        codec: values' codec; by default Avro through ``SCHEMA_REGISTRY_URL`` with the contracts
            and the internal schema under the configured topic names.
        transport: an httpx transport for the storefront API (tests inject one).

    Returns:
        What was declared (tests look at it; nothing to run: the assembly runs the parts).

    Raises:
        ConfigError: the SKU map cannot be read (nothing is declared then).
    """
    runtime = runtime.model_copy(update={"exactly_once": True})
    group = runtime.group_id or f"ecombus.{SERVICE}"
    codec = codec or avro_codec(settings)
    sku_map = SkuMap.load(settings.sku_map, settings.locations)
    book = StockBook(timedelta(seconds=settings.settle_seconds), timedelta(seconds=settings.park_seconds))
    service = Service(SERVICE, metrics=assembly.metrics, health=assembly.health, settings=runtime,
                      kafka=kafka, codec=codec)
    keeper = StockKeeper(book, sku_map, settings)
    service.handler(settings.levels_topic, model=m.StockLevelChanged, name="apply_level")(keeper.apply_level)
    service.handler(settings.orders_topic, model=m.OrderPlaced, name="reserve_stock")(keeper.reserve_stock)
    service.handler(settings.cancellations_topic, model=m.OrderCancelled,
                    name="release_cancelled")(keeper.release_cancelled)
    service.handler(settings.refunds_topic, model=m.OrderRefunded,
                    name="restock_refund")(keeper.restock_refund)
    service.handler(settings.returns_topic, model=m.ReturnUpdated,
                    name="restock_return")(keeper.restock_return)
    token = settings.storefront_token
    headers = {"X-Shopify-Access-Token": token.get_secret_value()} if token else {}
    options: dict[str, Any] = {"timeout": httpx.Timeout(settings.request_timeout_seconds), "headers": headers}
    if transport is not None:
        options["transport"] = transport
    api = ApiClient("storefront", settings.storefront_url, retry=None, service=SERVICE, **options)
    storefront = StorefrontInventory(api, LeakyBucket(settings.bucket_capacity, settings.leak_per_second))
    client = kafka.client_config()
    pusher = StockPusher(
        Feed.of(SERVICE, settings.levels_topic, f"{group}.storefront", client),
        storefront=storefront, book=book, sku_map=sku_map, codec=codec,
        retry=RetryPolicy.until_budget(settings.push_retry_budget_seconds),
        linger=settings.push_linger_seconds, registry=assembly.registry)
    sync = InventorySync(service, settings, runtime, kafka, codec, book, pusher)
    service.on_start(sync.restore)
    assembly.add_service(service, storefront_pusher=pusher)
    return sync


def avro_codec(settings: InventorySyncSettings) -> Codec:
    """Avro through the registry, every configured topic with its schema (contract or internal)."""
    schemas: dict[str, Any] = {
        settings.orders_topic: schema_for_topic("orders.placed.v1"),
        settings.levels_topic: schema_for_topic("inventory.levels.v1"),
        settings.reservations_topic: schema_for_topic("inventory.reservations.v1"),
        settings.status_topic: schema_for_topic("orders.status.v1"),
        settings.cancellations_topic: schema_for_topic("orders.cancellations.v1"),
        settings.refunds_topic: schema_for_topic("orders.refunds.v1"),
        settings.returns_topic: schema_for_topic("orders.returns.v1"),
        settings.changelog_topic: POSITION,
        settings.ledger_topic: LEDGER,
    }
    return default_codec(schemas)


def assemble(assembly: Assembly) -> None:
    """Declare the service's parts from the environment (nothing connects until it runs)."""
    build(assembly, load(InventorySyncSettings), load(RuntimeSettings), load(KafkaSettings))


DEFINITION = ServiceDefinition(SERVICE, assemble)
"""What ``ecombus run inventory-sync`` runs (:func:`bus.assembly.run_service`)."""
