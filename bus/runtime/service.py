"""A runnable ecombus service: declared handlers + settings → loop, admin server, signals.

Every consumer service is built the same way::

    service = Service("inventory-sync")

    @service.handler("orders.placed.v1")
    def reserve_stock(order, ctx): ...

    service.run()          # blocks until SIGTERM/SIGINT, then drains and exits

:meth:`Service.run` wires the mechanisms from the environment: Kafka (``KAFKA_*``), the
registry (``SCHEMA_REGISTRY_*``), the runtime settings of :class:`RuntimeSettings`, JSON logs,
Prometheus metrics and ``/healthz`` ``/readyz`` on the service's admin port.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from confluent_kafka.admin import AdminClient
from prometheus_client import CollectorRegistry
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus.observability.admin_server import AdminServer, admin_address
from bus.observability.health import Health
from bus.observability.logging import configure_logging
from bus.observability.metrics import RuntimeMetrics
from bus.runtime.audit import AuditTrail
from bus.runtime.codec import Codec
from bus.runtime.consumer import ConsumerLoop, LoopOptions
from bus.runtime.handlers import HandlerFn, HandlerRegistry
from bus.runtime.hooks import RuntimeHooks
from bus.runtime.idempotency import ProcessedEvents
from bus.runtime.producer import BusProducer
from bus.runtime.retry import RetryPolicy
from bus.settings import ClientConfig, KafkaSettings, RegistrySettings, load

log = logging.getLogger("ecombus.service")


class RuntimeSettings(BaseSettings):
    """Runtime tuning shared by every service (environment prefix ``ECOMBUS_``).

    A service's own settings class may subclass it with its own prefix.
    """

    model_config = SettingsConfigDict(env_prefix="ECOMBUS_", frozen=True, extra="ignore")

    group_id: str | None = Field(None, description="Consumer group; default ecombus.<service>.")
    batch_size: int = Field(500, ge=1, le=10_000)
    retry_max_attempts: int = Field(5, ge=1, le=100)
    retry_budget_seconds: float = Field(30.0, gt=0, le=240,
                                        description="Below max.poll.interval.ms (300 s).")
    exactly_once: bool = False
    shutdown_timeout_seconds: float = Field(30.0, gt=0)
    dedupe_ttl_seconds: float = Field(7 * 24 * 3600, gt=0)
    log_level: str = "INFO"
    audit: bool = True


class Service:
    """One service: a name and its handlers. Nothing connects until :meth:`run`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.handlers = HandlerRegistry()
        self.loop: ConsumerLoop | None = None
        self.metrics_registry = CollectorRegistry()
        self.metrics = RuntimeMetrics(name, self.metrics_registry)  # also for the service's HTTP edges
        self.health = Health()

    def handler(self, topic: str, *, name: str | None = None, side_effects: bool = False,
                model: Any = None) -> Callable[[HandlerFn], HandlerFn]:
        """Register a handler (see :meth:`HandlerRegistry.handler`)."""
        return self.handlers.handler(topic, name=name, side_effects=side_effects, model=model)

    def run(self, *, settings: RuntimeSettings | None = None, kafka: KafkaSettings | None = None,
            codec: Codec | None = None, stop: threading.Event | None = None,
            install_signal_handlers: bool = True) -> None:
        """Run until ``stop`` is set (SIGTERM/SIGINT set it), then drain, commit and return."""
        settings = settings or load(RuntimeSettings)
        kafka = kafka or load(KafkaSettings)
        configure_logging(self.name, settings.log_level)
        client = kafka.client_config()
        codec = codec or default_codec()
        metrics = self.metrics
        hooks = RuntimeHooks(self.name, metrics, self.health)
        producer = BusProducer(client, on_failure=hooks.delivery_failed)
        hooks.audit = AuditTrail(self.name, producer, codec) if settings.audit else None
        processed = None
        if self.handlers.any_side_effects:
            processed = ProcessedEvents(client, self.name, producer, ttl=settings.dedupe_ttl_seconds)
            processed.start()
        options = LoopOptions(
            group_id=settings.group_id or f"ecombus.{self.name}",
            batch_size=settings.batch_size,
            retry=RetryPolicy(max_attempts=settings.retry_max_attempts,
                              budget_seconds=settings.retry_budget_seconds),
            exactly_once=settings.exactly_once,
            shutdown_timeout=settings.shutdown_timeout_seconds,
        )
        self.loop = ConsumerLoop(self.name, self.handlers, client, codec, options,
                                 producer=None if settings.exactly_once else producer,
                                 processed=processed, hooks=hooks)
        self.health.add_check("kafka", broker_reachable(client))
        self.health.add_check("consuming", lambda: self.loop is not None and hooks.beats > 0)
        host, port = admin_address(self.name)
        admin = AdminServer(self.metrics_registry, self.health, host, port).start()
        stop = stop or threading.Event()
        if install_signal_handlers:
            stop_on_signals(stop)
        log.info("%s consuming %s as group %s; admin on %s", self.name,
                 ", ".join(self.handlers.topics), options.group_id, admin.url)
        try:
            self.loop.run(stop)
        finally:
            admin.stop()
            if processed is not None:
                processed.close()
            left = producer.close(settings.shutdown_timeout_seconds)
            log.info("%s stopped (%d records unacknowledged)", self.name, left)


def stop_on_signals(stop: threading.Event | None = None) -> threading.Event:
    """``stop`` (or a new event), set by SIGTERM or SIGINT: what a service's ``run`` waits on.

    Call from the main thread (Python delivers signals there)."""
    event = stop or threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: event.set())
    return event


class Worker(Protocol):
    """A background worker beside a service's consumer loop (a flusher, a pusher): it runs until
    ``stop`` is set, finishing what waits within ``shutdown_timeout``, on its own producer."""

    producer: BusProducer

    def run(self, stop: threading.Event, shutdown_timeout: float) -> None: ...


def run_beside(service: Service, worker: Worker, name: str, *, settings: RuntimeSettings,
               kafka: KafkaSettings, codec: Codec, stop: threading.Event | None = None,
               install_signal_handlers: bool = True) -> None:
    """Run ``service`` with ``worker`` in a thread called ``name``; when either ends, stop both,
    give the worker its shutdown time and close its producer."""
    stop = stop or threading.Event()
    timeout = settings.shutdown_timeout_seconds
    thread = threading.Thread(target=worker.run, name=name, daemon=True, args=(stop, timeout))
    thread.start()
    try:
        service.run(settings=settings, kafka=kafka, codec=codec, stop=stop,
                    install_signal_handlers=install_signal_handlers)
    finally:
        stop.set()
        thread.join(timeout + 10)
        worker.producer.close(timeout)




def default_codec() -> Codec:
    """Avro through the schema registry named by ``SCHEMA_REGISTRY_URL``."""
    from bus.serde import AvroCodec, RegistryClient

    return AvroCodec(RegistryClient.from_settings(load(RegistrySettings)))


def broker_reachable(client: ClientConfig, ttl: float = 5.0) -> Callable[[], bool]:
    """A readiness check: the cluster answered a metadata request within the last ``ttl`` s."""
    admin = AdminClient(client)
    last_ok = [0.0]

    def check() -> bool:
        if time.monotonic() - last_ok[0] < ttl:
            return True
        admin.list_topics(timeout=2)
        last_ok[0] = time.monotonic()
        return True

    return check
