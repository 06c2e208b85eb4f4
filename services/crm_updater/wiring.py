"""Declares crm-updater's parts on an :class:`~bus.assembly.Assembly` (see :func:`build`).

Nothing here talks to the network until the assembly runs. Its "consumer" part then, in this
order, fences any previous instance, creates missing internal topics, reads the changelog back
into the book (:meth:`CrmUpdater.restore`, the consumer's start step), and runs the exactly-once
consumer loop until ``stop`` is set; the "crm-flusher" part starts only once that restore
finished. After both drained, the flusher's producer is flushed and closed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
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
from services.crm_updater import SERVICE
from services.crm_updater.batcher import ContactFlusher
from services.crm_updater.changelog import CONTACT_UPSERT, CUSTOMER_STATE, state_from_record
from services.crm_updater.handlers import CustomerFigures
from services.crm_updater.hubspot import HubSpotContacts, RollingWindow
from services.crm_updater.profiles import CustomerBook
from services.crm_updater.settings import CrmUpdaterSettings

log = logging.getLogger(__name__)


@dataclass
class CrmUpdater:
    """What :func:`build` declared: the consumer service, the book it keeps, the flusher."""

    service: Service
    settings: CrmUpdaterSettings
    runtime: RuntimeSettings
    kafka: KafkaSettings
    codec: Codec
    book: CustomerBook
    flusher: ContactFlusher

    @property
    def group_id(self) -> str:
        return self.runtime.group_id or f"ecombus.{SERVICE}"

    def restore(self) -> int:
        """Fence previous instances and load every customer from the changelog; returns the count."""
        client = self.kafka.client_config()
        fence(client, self.group_id)
        ensure_topics(client, [TopicSpec(name=self.settings.changelog_topic, partitions=6,
                                         config={"cleanup.policy": "compact"}),
                               TopicSpec(name=self.settings.outbox_topic, partitions=6),
                               TopicSpec(name=dlq_topic(SERVICE), partitions=1,
                                         config={"retention.ms": str(30 * 86_400_000)})])
        topic = self.settings.changelog_topic
        with self.book.lock:
            for msg in read_to_end(client, topic, self.settings.restore_timeout_seconds):
                if msg.value() is not None:
                    self.book.put(state_from_record(self.codec.decode(topic, msg.value() or b"")))
        log.info("restored %d customers from %s", len(self.book), topic)
        return len(self.book)


def build(assembly: Assembly, settings: CrmUpdaterSettings, runtime: RuntimeSettings, kafka: KafkaSettings,
          *, codec: Codec | None = None, transport: httpx.BaseTransport | None = None) -> CrmUpdater:
    """Declare crm-updater on ``assembly`` (exactly-once, whatever ``runtime.exactly_once`` says).

    Declares the "consumer" part (start step :meth:`CrmUpdater.restore`, then the loop), the
    "crm-flusher" part (started once the restore finished) and the closer of the flusher's
    producer; the loop's and the flusher's series go to ``assembly.registry``, readiness to
    ``assembly.health``.

    Args:
        assembly: the service's assembly (named crm-updater).
        settings, runtime, kafka: the service's, the runtime's and the cluster's settings.
        codec: values' codec; by default Avro through ``SCHEMA_REGISTRY_URL`` with the contracts
            and internal schemas under the configured topic names.
        transport: an httpx transport for the CRM API (tests inject one).

    Returns:
        What was declared (tests look at it; nothing to run: the assembly runs the parts).
    """
    runtime = runtime.model_copy(update={"exactly_once": True})
    group = runtime.group_id or f"ecombus.{SERVICE}"
    codec = codec or avro_codec(settings)
    book = CustomerBook()
    service = Service(SERVICE, metrics=assembly.metrics, health=assembly.health, settings=runtime,
                      kafka=kafka, codec=codec)
    figures = CustomerFigures(book, settings.changelog_topic, settings.outbox_topic)
    service.handler(settings.orders_topic, model=m.OrderPlaced, name="count_order")(figures.count_order)
    service.handler(settings.profiles_topic, model=m.CustomerUpserted,
                    name="apply_profile")(figures.apply_profile)
    service.handler(settings.refunds_topic, model=m.OrderRefunded, name="apply_refund")(figures.apply_refund)
    service.handler(settings.cancellations_topic, model=m.OrderCancelled,
                    name="apply_cancellation")(figures.apply_cancellation)
    token = settings.api_token
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
    options: dict[str, Any] = {"headers": headers, "timeout": httpx.Timeout(settings.request_timeout_seconds)}
    if transport is not None:
        options["transport"] = transport
    api = ApiClient("hubspot", settings.api_url, retry=None, service=SERVICE, **options)
    contacts = HubSpotContacts(api, RollingWindow(settings.rate_limit_requests,
                                                  settings.rate_limit_interval_seconds))
    client = kafka.client_config()
    flusher = ContactFlusher(
        Feed.of(SERVICE, settings.outbox_topic, f"{group}.crm", client),
        contacts=contacts, book=book, codec=codec,
        retry=RetryPolicy.until_budget(settings.retry_budget_seconds),
        batch_size=settings.batch_size, linger=settings.batch_linger_seconds,
        registry=assembly.registry)
    updater = CrmUpdater(service, settings, runtime, kafka, codec, book, flusher)
    service.on_start(updater.restore)
    assembly.add_service(service, crm_flusher=flusher)
    return updater


def avro_codec(settings: CrmUpdaterSettings) -> Codec:
    """Avro through the registry, every configured topic with its schema (contract or internal)."""
    schemas: dict[str, Any] = {
        settings.orders_topic: schema_for_topic("orders.placed.v1"),
        settings.profiles_topic: schema_for_topic("customers.profiles.v1"),
        settings.refunds_topic: schema_for_topic("orders.refunds.v1"),
        settings.cancellations_topic: schema_for_topic("orders.cancellations.v1"),
        settings.changelog_topic: CUSTOMER_STATE,
        settings.outbox_topic: CONTACT_UPSERT,
    }
    return default_codec(schemas)


def assemble(assembly: Assembly) -> None:
    """Declare the service's parts from the environment (nothing connects until it runs)."""
    build(assembly, load(CrmUpdaterSettings), load(RuntimeSettings), load(KafkaSettings))


DEFINITION = ServiceDefinition(SERVICE, assemble)
"""What ``ecombus run crm-updater`` runs (:func:`bus.assembly.run_service`)."""
