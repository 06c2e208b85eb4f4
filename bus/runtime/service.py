"""A consumer service as one part of an assembly: declared handlers, the consumer loop, workers beside it.

A consumer service is declared on its :class:`~bus.assembly.Assembly`, whose metrics and health
it reports on (the assembly serves both on the admin port, configures logging and handles
signals; this module does none of that)::

    def build(assembly: Assembly, runtime: RuntimeSettings, kafka: KafkaSettings) -> None:
        service = Service(assembly.name, metrics=assembly.metrics, health=assembly.health,
                          settings=runtime, kafka=kafka)

        @service.handler("orders.placed.v1")
        def reserve_stock(order, ctx): ...

        service.on_start(restore_the_book)                      # before consuming, before workers
        assembly.add("consumer", service)                       # the consumer loop
        assembly.add("storefront-pusher", service.beside(pusher))  # a worker, once started
        assembly.on_close(lambda: pusher.producer.close(runtime.shutdown_timeout_seconds))

Tests and benchmarks that run a Service directly do the same on an
``Assembly(name, admin=("127.0.0.1", 0))`` and run it in a thread with ``assembly.run(stop)``.

:meth:`Service.run` (what the assembly calls) runs the start steps, then builds the mechanisms
from the settings it was given: Kafka, the registry codec, the runtime settings of
:class:`RuntimeSettings`, a producer, the audit trail and, when a handler has side effects, the
dedupe store; it consumes until ``stop`` is set, then drains, commits and closes its producer.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka.admin import AdminClient
from prometheus_client import CollectorRegistry
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus.observability.health import Health
from bus.observability.metrics import RuntimeMetrics
from bus.runtime.audit import AuditTrail
from bus.runtime.codec import Codec
from bus.runtime.consumer import ConsumerLoop, LoopOptions, PartitionState
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
    audit: bool = True
    instance_id: str | None = Field(None, description="This replica's name (stable across restarts, "
                                    "e.g. a StatefulSet pod name); default <host>-<pid>.")


class Service:
    """One consumer service: its handlers and, once run, the consumer loop that calls them.

    Nothing connects until :meth:`run`. The service reports on metrics and health it is given
    (its assembly's: ``assembly.metrics``, ``assembly.health``), never on its own.

    Args:
        name: the service (``inventory-sync``): group ``ecombus.<name>``, ``dlq.<name>``, labels.
        metrics: the service's RuntimeMetrics (the one of its registry; also for its HTTP edges).
        health: the service's Health: the loop beats it and adds the ``kafka`` and ``consuming``
            readiness checks when it runs.
        settings: runtime tuning (``ECOMBUS_*`` from the environment by default).
        kafka: the cluster (``KAFKA_*`` from the environment by default).
        codec: values' codec; by default, at :meth:`run`, Avro through ``SCHEMA_REGISTRY_URL``.
        stage: an exactly-once stage whatever ``ECOMBUS_EXACTLY_ONCE`` says (see
            :class:`Stage`): its own group, its own transactional id per replica, its state
            kept in step with its transactions and its audit records inside them.

    Attributes:
        loop: the consumer loop, once :meth:`run` built it.
        started: set once the start steps finished, just before the loop is built.

    Raises:
        ValueError: ``metrics`` were made for another service.
    """

    def __init__(self, name: str, *, metrics: RuntimeMetrics, health: Health,
                 settings: RuntimeSettings | None = None, kafka: KafkaSettings | None = None,
                 codec: Codec | None = None, stage: Stage | None = None) -> None:
        if metrics.service != name:
            raise ValueError(f"{name}: the metrics given are {metrics.service}'s")
        self.name = name
        self.handlers = HandlerRegistry()
        self.metrics = metrics
        self.health = health
        self.settings = settings or load(RuntimeSettings)
        self.kafka = kafka or load(KafkaSettings)
        self.codec = codec
        self.stage = stage
        self.loop: ConsumerLoop | None = None
        self.started = threading.Event()  # the start steps finished (what workers beside wait for)
        self._start_steps: list[Callable[[], object]] = []
        self.hooks = RuntimeHooks(name, metrics, health)
        health.add_check("kafka", broker_reachable(self.kafka.client_config()))
        health.add_check("consuming" if stage is None else "interpreting",
                         lambda: self.loop is not None and self.hooks.beats > 0)

    @property
    def registry(self) -> CollectorRegistry:
        """Where the service's metrics are registered (the registry its admin server exposes)."""
        return self.metrics.registry

    def handler(self, topic: str, *, name: str | None = None, side_effects: bool = False,
                model: Any = None) -> Callable[[HandlerFn], HandlerFn]:
        """Register a handler (see :meth:`HandlerRegistry.handler`)."""
        return self.handlers.handler(topic, name=name, side_effects=side_effects, model=model)

    @property
    def start_steps(self) -> tuple[Callable[[], object], ...]:
        """What :meth:`run` does first, in order (declared with :meth:`on_start`)."""
        return tuple(self._start_steps)

    def on_start(self, step: Callable[[], object]) -> None:
        """Run ``step`` at the start of :meth:`run`, before consuming and before any worker
        :meth:`beside` the loop starts (fence a previous instance, read a changelog back).

        Steps run in the order declared; one that raises ends :meth:`run` with that error
        (the assembly then stops the service and re-raises it)."""
        self._start_steps.append(step)

    def beside(self, worker: Worker) -> Beside:
        """``worker`` as a part of the same assembly, started once this service's start steps
        finished (so it never acts on state not yet restored); it is given the runtime's
        ``shutdown_timeout_seconds`` to finish at stop. Its producer is not closed here: declare
        that as a closer."""
        return Beside(worker, self.started, self.settings.shutdown_timeout_seconds)

    def run(self, stop: threading.Event) -> None:
        """Run the start steps, then consume until ``stop`` is set; drain, commit and return.

        What an :class:`~bus.assembly.Assembly` calls as the part's ``run``: no admin server,
        logging configuration or signal handling here (the assembly does those).

        Raises:
            Whatever a start step raised, or the loop's fatal errors (e.g. fenced).
        """
        for step in self._start_steps:
            step()
        self.started.set()
        settings = self.settings
        client = self.kafka.client_config()
        codec = self.codec or default_codec()
        hooks = self.hooks
        stage = self.stage
        producer = BusProducer(client, on_failure=hooks.delivery_failed,
                               **dict(stage.producer_overrides if stage else ()))
        hooks.audit = AuditTrail(self.name, producer, codec) if settings.audit else None
        processed = None
        if self.handlers.any_side_effects:
            processed = ProcessedEvents(client, self.name, producer, ttl=settings.dedupe_ttl_seconds)
            processed.start()
        options = LoopOptions(
            group_id=(stage.group_id if stage else None) or settings.group_id or f"ecombus.{self.name}",
            batch_size=stage.batch_size if stage else settings.batch_size,
            poll_timeout=stage.poll_timeout if stage else 0.5,
            retry=RetryPolicy(max_attempts=settings.retry_max_attempts, budget_seconds=(
                stage.retry_budget_seconds if stage else settings.retry_budget_seconds)),
            exactly_once=bool(stage) or settings.exactly_once,
            transactional_id=stage.transactional_id if stage else None,
            transaction_timeout=stage.transaction_timeout if stage else 60.0,
            producer_overrides=stage.producer_overrides if stage else (),
            shutdown_timeout=settings.shutdown_timeout_seconds,
        )
        hooks.part = f"consumer group {options.group_id}"  # its name in /healthz
        self.loop = ConsumerLoop(self.name, self.handlers, client, codec, options,
                                 producer=None if options.exactly_once else producer,
                                 processed=processed, hooks=hooks,
                                 consumer_overrides=dict(stage.consumer_overrides) if stage else None,
                                 state=stage.state if stage else ())
        if stage is not None and settings.audit:  # audit records inside the stage's transactions
            hooks.audit = AuditTrail(self.name, self.loop.producer, codec)
        log.info("%s consuming %s as group %s", self.name, ", ".join(self.handlers.topics), options.group_id)
        try:
            self.loop.run(stop)
        finally:
            if processed is not None:
                processed.close()
            left = producer.close(settings.shutdown_timeout_seconds)
            log.info("%s stopped (%d records unacknowledged)", self.name, left)


@dataclass(frozen=True)
class Stage:
    """What makes a consumer service an exactly-once stage (e.g. the interpreting side of a raw
    intake topic), replicated across instances.

    Every replica joins ``group_id``; the group gives each partition one owner at a time. Each
    replica's transactions carry its own ``transactional_id`` (a stable one, such as a
    StatefulSet pod name, lets a restarted replica abort what its previous life left open at
    once; otherwise the broker aborts it after ``transaction_timeout``), and the group metadata
    sent with the offsets fences a former owner (KIP-447). The outputs, the dead letters, the
    audit records, the state's changelog records and the consumed offsets commit together.

    Attributes:
        group_id: the stage's consumer group.
        transactional_id: this replica's transactional id (unique among live replicas).
        state: per-partition state restored on assignment (e.g. a dedupe state).
        batch_size: messages per transaction (at most).
        poll_timeout: seconds a batch waits to fill up before what came is handled: a delivery's
            wait before it is interpreted when traffic is light.
        retry_budget_seconds: retries of one message, inside its transaction.
        transaction_timeout: seconds the broker lets a transaction stay open (a crashed replica's
            open transaction holds readers of its outputs back at most this long).
        consumer_overrides / producer_overrides: librdkafka keys (e.g. a short session timeout,
            ``message.max.bytes`` for large raw deliveries).
    """

    group_id: str
    transactional_id: str
    state: tuple[PartitionState, ...] = ()
    batch_size: int = 100
    poll_timeout: float = 0.02
    retry_budget_seconds: float = 10.0
    transaction_timeout: float = 30.0
    consumer_overrides: tuple[tuple[str, Any], ...] = ()
    producer_overrides: tuple[tuple[str, Any], ...] = ()


def instance_id(configured: str | None = None) -> str:
    """This replica's name: ``configured`` (``ECOMBUS_INSTANCE_ID``, e.g. a StatefulSet pod name,
    stable across restarts) when set, else ``<host>-<pid>`` (unique, new on every start)."""
    return configured or f"{socket.gethostname()}-{os.getpid()}"


class Worker(Protocol):
    """A background worker beside a service's consumer loop (a flusher, a pusher: a
    :class:`~bus.sinks.TopicSink`): it runs until ``stop`` is set, then finishes what waits
    within ``shutdown_timeout``, on its own producer (closed by the service's closer)."""

    producer: BusProducer

    def run(self, stop: threading.Event, shutdown_timeout: float) -> None: ...


class Beside:
    """A worker run as a part once ``started`` is set (see :meth:`Service.beside`).

    If ``stop`` is set first (the consumer part failed in a start step, or the service is
    stopped while restoring), the worker never runs and the part returns.
    """

    def __init__(self, worker: Worker, started: threading.Event, shutdown_timeout: float) -> None:
        self.worker, self.started, self.shutdown_timeout = worker, started, shutdown_timeout

    def run(self, stop: threading.Event) -> None:
        """Wait for ``started`` (or ``stop``), then run the worker until ``stop`` is set."""
        while not self.started.wait(0.1):
            if stop.is_set():
                return
        if not stop.is_set():
            self.worker.run(stop, self.shutdown_timeout)


def default_codec(schemas: Mapping[str, Any] | None = None, *, read_with_them: bool = True) -> Codec:
    """Avro through the schema registry named by ``SCHEMA_REGISTRY_*``.

    Args:
        schemas: topic → the schema its values are written with (a contract, or a service's
            internal changelog schema); topics not named use their contract.
        read_with_them: also read those topics with the same schemas (projection).
    """
    from bus.serde import AvroCodec, RegistryClient

    return AvroCodec(RegistryClient.from_settings(load(RegistrySettings)), writer_schemas=schemas,
                     reader_schemas=schemas if read_with_them else None)


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
