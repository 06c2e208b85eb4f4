"""Declares the router's parts on its :class:`~bus.assembly.Assembly`, from its settings and routes file.

The parts are the consumer loop of the Kafka-sourced routes, the watcher of the ``file_in``
folders, the ``http_in`` edge, the batch ticker (batch and aggregate windows) and, when no
consumer loop beats the health, a heartbeat. Metrics (the runtime's and the router's per-route
series) go to the assembly's registry, readiness checks to its health; the assembly serves both.

Nothing here talks to the network; the routes are started by the first part that runs
(:meth:`Router.start`) and closed after every part stopped.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bus.assembly import Assembly, ServiceDefinition
from bus.contracts.catalog import TOPIC_EVENTS, schema_for_topic
from bus.errors import ConfigError
from bus.observability.health import Health
from bus.runtime.audit import AuditTrail
from bus.runtime.codec import Codec
from bus.runtime.consumer import ConsumerLoop, LoopOptions
from bus.runtime.handlers import HandlerRegistry
from bus.runtime.idempotency import ProcessedEvents
from bus.runtime.producer import BusProducer
from bus.runtime.retry import RetryPolicy
from bus.runtime.service import RuntimeSettings, broker_reachable
from bus.settings import ClientConfig, KafkaSettings, RegistrySettings, load
from bus.webhooks.server import HttpServer
from services.router import SERVICE
from services.router.build import BuildContext
from services.router.checks import check_fields, source_paths
from services.router.codec import RouterCodec
from services.router.endpoints.base import Endpoint
from services.router.endpoints.file_in import FileIn
from services.router.endpoints.http_in import HttpIn
from services.router.endpoints.kafka import Kafka
from services.router.handlers import RouterHooks, dispatcher
from services.router.http_server import http_app
from services.router.ingest import FileIngest, InputRunner, WindowOutlet
from services.router.metrics import RouterMetrics
from services.router.pipeline import RouteRunner
from services.router.routes import RoutesFile, load_routes
from services.router.schema_paths import projected_schema
from services.router.settings import RouterSettings
from services.router.steps.aggregate import Aggregate
from services.router.steps.base import Step

log = logging.getLogger("ecombus.router")


@dataclass
class Router:
    """The wired router: its routes, what they share, and the work its parts do.

    Attributes:
        routes: the validated routes file.
        runners: one per route, in the file's order.
        settings: the router's settings (``tick_seconds``...).
        health: the assembly's health (beaten by :meth:`heartbeat` when there is no loop).
        loop: the consumer loop of the Kafka-sourced routes, if any.
        files: one exactly-once ingest per ``file_in`` route.
        http: the server of the ``http_in`` routes, if any.
        producer: the shared producer (outputs of files' aggregates, dedupe marks, audit).
        stores: the replicated sets (dedupe marks, processed files) loaded by :meth:`start`.
        codec: the router's codec (Avro or JSON per topic).
        windows: per route with an aggregate, how the groups its windows close are delivered
            (:class:`~services.router.ingest.WindowOutlet`: the route's own delivery path).
    """

    routes: RoutesFile
    runners: list[RouteRunner]
    settings: RouterSettings
    health: Health
    loop: ConsumerLoop | None = None
    files: list[FileIngest] = field(default_factory=list)
    http: HttpServer | None = None
    producer: BusProducer | None = None
    stores: list[ProcessedEvents] = field(default_factory=list)
    codec: Codec | None = None
    windows: dict[str, WindowOutlet] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _attempted: bool = field(default=False, init=False, repr=False)
    _started: bool = field(default=False, init=False, repr=False)
    _open_stores: list[ProcessedEvents] = field(default_factory=list, init=False, repr=False)
    _open_components: list[Step | Endpoint] = field(default_factory=list, init=False, repr=False)

    @property
    def started(self) -> bool:
        """True once :meth:`start` succeeded (the ``routes_started`` readiness check)."""
        return self._started

    def start(self) -> bool:
        """Load the stores, start every step and endpoint and ready the file routes, once.

        Every part calls it before its own work: the first one starts the routes while the
        others wait for it.

        Returns:
            True when the routes are started; False when the attempt of another part failed
            (that part raised why, which stops the service).

        Raises:
            Exception: whatever starting a store, a component or a file route raised (the
                ones already started are closed by :meth:`close`).
        """
        with self._lock:
            if self._attempted:
                return self._started
            self._attempted = True
            for store in self.stores:
                store.start()
                self._open_stores.append(store)
            for runner in self.runners:
                route = runner.route
                components: list[Step | Endpoint] = [step for _, step in route.all_steps()]
                for component in [*components, *route.all_endpoints(), route.source]:
                    component.start()
                    self._open_components.append(component)
            for ingest in self.files:
                ingest.start()
            for outlet in self.windows.values():
                outlet.start()
            self._started = True
        log.info("router running %d route(s) from %s", len(self.runners), self.routes.path)
        return True

    def close(self) -> None:
        """Close what :meth:`start` opened: steps and endpoints (flushing their spools), then the stores.

        A closer of the assembly: it runs once every part stopped.
        """
        with self._lock:
            components, self._open_components = self._open_components, []
            stores, self._open_stores = self._open_stores, []
        for component in components:
            component.close()
        for store in stores:
            store.close()
        log.info("router stopped")

    def part(self, work: Callable[[threading.Event], None]) -> RouterPart:
        """``work(stop)`` as a part of the assembly, run once the routes are started."""
        return RouterPart(self, work)

    def watch_files(self, stop: threading.Event) -> None:
        """Process the files ready in the ``file_in`` folders until ``stop``; a file in progress ends."""
        interval = min((f.endpoint.config.poll_seconds for f in self.files), default=1.0)
        while not stop.wait(interval):
            for ingest in self.files:
                try:
                    ingest.poll_once()
                except Exception:  # one bad file or a broker hiccup must not end the watcher
                    log.exception("file route %s: polling failed; retrying", ingest.route)

    def tick(self, stop: threading.Event) -> None:
        """Close due batch and aggregate windows every ``tick_seconds`` until ``stop``."""
        while not stop.wait(self.settings.tick_seconds):
            for runner in self.runners:
                try:
                    self._close_windows(runner)
                except Exception:
                    log.exception("route %s: closing a batch window failed; retrying", runner.route.name)

    def heartbeat(self, stop: threading.Event) -> None:
        """Beat the health every second until ``stop`` (the liveness when no consumer loop beats it)."""
        while not stop.wait(1.0):
            self.health.beat("batch windows")

    def _close_windows(self, runner: RouteRunner) -> None:
        for endpoint in runner.route.all_endpoints():
            endpoint.flush_due()
        outlet = self.windows.get(runner.route.name)
        if outlet is None:
            return
        for _, step in runner.route.all_steps():
            if isinstance(step, Aggregate):
                for close in step.due():
                    outlet.deliver(step, close)


@dataclass
class RouterPart:
    """One part of the router on the assembly: ``work(stop)``, once :meth:`Router.start` started the routes.

    Returns at once, without working, when another part failed to start the routes.
    """

    router: Router
    work: Callable[[threading.Event], None]

    def run(self, stop: threading.Event) -> None:
        """Start the routes (or wait for the part starting them), then work until ``stop``."""
        if self.router.start():
            self.work(stop)


def router_codec(routes: RoutesFile, registry: Any) -> RouterCodec:
    """Avro (projected where the routes allow) or JSON per topic, under actual topic names."""
    from bus.serde import AvroCodec

    writers: dict[str, dict[str, Any]] = {}
    readers: dict[str, dict[str, Any]] = {}
    json_topics: set[str] = set()
    needs: dict[str, set[tuple[str, ...]] | None] = {}
    for route in routes.routes:
        kafka = [e for e in (route.source, *route.all_endpoints()) if isinstance(e, Kafka)]
        for endpoint in kafka:
            logical, actual = endpoint.config.topic, endpoint.topic
            if endpoint.config.format == "json":
                json_topics.add(actual)
            elif logical in TOPIC_EVENTS:
                writers[actual] = schema_for_topic(logical)
        source = route.source
        avro = isinstance(source, Kafka) and source.config.format == "avro"
        if avro and isinstance(source, Kafka) and source.config.topic in TOPIC_EVENTS:
            paths = source_paths(route)
            previous = needs.get(source.topic, set())
            needs[source.topic] = None if paths is None or previous is None else previous | paths
            readers[source.topic] = schema_for_topic(source.config.topic)
    for topic, paths in needs.items():
        if paths is not None:
            readers[topic] = projected_schema(readers[topic], paths)
    return RouterCodec(AvroCodec(registry, writer_schemas=writers, reader_schemas=readers),
                       json_topics, writers)


def build(assembly: Assembly, settings: RouterSettings, runtime: RuntimeSettings, kafka: KafkaSettings,
          registry_settings: RegistrySettings | None = None, *, environ: dict[str, str] | None = None,
          http_transport: httpx.BaseTransport | None = None) -> Router:
    """Validate the routes file, then declare the router's parts, closers and readiness on ``assembly``.

    Parts: ``consumer`` (the Kafka-sourced routes, if any), ``files`` (the ``file_in`` routes, if
    any), ``http`` (the ``http_in`` routes, if any, on ``http_host:http_port``), ``batches``
    (batch and aggregate windows) and ``heartbeat`` (only without a consumer loop). Closers: the
    routes' steps, endpoints and stores, then the shared producer (flushed). Readiness: ``kafka``
    (broker reachable), ``routes_started`` and, with a consumer loop, ``consuming``.

    Args:
        assembly: where the parts go; its registry, metrics and health are the router's.
        settings: the router's settings (routes file, state folder, HTTP edge, topic names).
        runtime: the runtime's tuning (group, batch size, retries, exactly-once, audit).
        kafka: how to reach the cluster.
        registry_settings: how to reach the schema registry (defaults from the environment).
        environ: where the routes' secrets and settings are read (``os.environ`` by default).
        http_transport: the transport of every outbound HTTP call (a MockTransport in tests).

    Returns:
        The wired :class:`Router` (its loop, files and stores, for tests).

    Raises:
        ConfigError: the routes file is invalid, or a route reads a field no source record has
            (naming the route, the step and the field); nothing is declared nor connected then.
    """
    from bus.serde import RegistryClient

    client: ClientConfig = kafka.client_config()
    context = BuildContext(environ=dict(os.environ if environ is None else environ),
                           state_dir=settings.state_dir, http_transport=http_transport,
                           topics=dict(settings.topics))
    routes = load_routes(settings.routes_file, context)
    problems = check_fields(routes)
    if problems:  # a field no source record can have would dead-letter every message
        raise ConfigError(f"{settings.routes_file}: " + "; ".join(problems)
                          + f" (see 'ecombus routes check {settings.routes_file}')")
    runtime_metrics = assembly.metrics
    router_metrics = RouterMetrics(assembly.registry)
    context.extra["runtime_metrics"] = runtime_metrics
    codec = router_codec(routes, RegistryClient.from_settings(registry_settings or RegistrySettings()))
    context.extra["codec"] = codec
    health = assembly.health
    hooks = RouterHooks(SERVICE, runtime_metrics, health, router_metrics=router_metrics)
    producer = BusProducer(client, on_failure=hooks.delivery_failed)
    producer.start_polling()
    hooks.audit = AuditTrail(SERVICE, producer, codec) if runtime.audit else None
    retry = RetryPolicy(max_attempts=runtime.retry_max_attempts, budget_seconds=runtime.retry_budget_seconds)
    stores: list[ProcessedEvents] = []
    if any(step.kind == "dedupe" for r in routes.routes for _, step in r.all_steps()):
        marks = ProcessedEvents(client, SERVICE, producer, ttl=runtime.dedupe_ttl_seconds)
        context.extra["dedupe_marks"] = marks
        stores.append(marks)
    runners = [RouteRunner(route, router_metrics) for route in routes.routes]
    by_topic: dict[str, list[RouteRunner]] = defaultdict(list)
    files: list[FileIngest] = []
    http_routes: list[tuple[HttpIn, InputRunner]] = []
    done_files: ProcessedEvents | None = None
    for runner in runners:
        source = runner.route.source
        if isinstance(source, Kafka):
            by_topic[source.topic].append(runner)
        elif isinstance(source, FileIn):
            if done_files is None:
                done_files = ProcessedEvents(client, f"{SERVICE}.files", producer, ttl=30 * 24 * 3600)
                stores.append(done_files)
            txn = BusProducer(client, on_failure=hooks.delivery_failed,
                              **{"transactional.id": f"ecombus.router.file-in.{runner.route.name}"})
            inputs = InputRunner(runner, codec, retry, router_metrics)
            files.append(FileIngest(inputs, source, txn, done_files))
        elif isinstance(source, HttpIn):
            http_routes.append((source, InputRunner(runner, codec, retry, router_metrics)))
    exactly_once = runtime.exactly_once or any(r.route.delivery == "exactly-once" for r in runners)
    windows: dict[str, WindowOutlet] = {}
    for runner in runners:  # closed windows go the way the route's inputs go
        if not any(isinstance(step, Aggregate) for _, step in runner.route.all_steps()):
            continue
        source = runner.route.source
        transactional = isinstance(source, FileIn) or (isinstance(source, Kafka) and exactly_once)
        outlet_producer = BusProducer(client, on_failure=hooks.delivery_failed, **{
            "transactional.id": f"ecombus.router.windows.{runner.route.name}"}) if transactional else producer
        windows[runner.route.name] = WindowOutlet(InputRunner(runner, codec, retry, router_metrics),
                                                  outlet_producer, transactional)
    loop = None
    if by_topic:
        handlers = HandlerRegistry()
        for topic, topic_runners in by_topic.items():
            name = "+".join(r.route.name for r in topic_runners)
            handlers.handler(topic, name=name)(dispatcher(topic_runners))
        options = LoopOptions(group_id=runtime.group_id or f"ecombus.{SERVICE}",
                              batch_size=runtime.batch_size, retry=retry, exactly_once=exactly_once,
                              shutdown_timeout=runtime.shutdown_timeout_seconds)
        loop = ConsumerLoop(SERVICE, handlers, client, codec, options,
                            producer=None if exactly_once else producer, hooks=hooks)
    http = HttpServer(http_app(http_routes, producer), settings.http_host, settings.http_port,
                      name="router-http") if http_routes else None
    router = Router(routes, runners, settings, health, loop, files, http, producer, stores, codec, windows)

    if loop is not None:
        health.add_check("consuming", lambda: hooks.beats > 0)
    health.add_check("kafka", broker_reachable(client))
    health.add_check("routes_started", lambda: router.started)
    if loop is not None:
        assembly.add("consumer", router.part(loop.run))
    if files:
        assembly.add("files", router.part(router.watch_files))
    if http is not None:
        assembly.add("http", router.part(http.run))
    assembly.add("batches", router.part(router.tick))
    if loop is None:
        assembly.add("heartbeat", router.part(router.heartbeat))
    assembly.on_close(lambda: producer.close(assembly.shutdown_timeout))  # closers run in reverse:
    assembly.on_close(router.close)  # the routes' spools and stores close before the producer flushes
    return router


def assemble(assembly: Assembly) -> None:
    """Declare the router's parts from the environment (nothing connects until the assembly runs)."""
    build(assembly, load(RouterSettings), load(RuntimeSettings), load(KafkaSettings), load(RegistrySettings))


DEFINITION = ServiceDefinition(SERVICE, assemble)
"""What ``ecombus run router`` runs (:func:`bus.assembly.run_service`)."""
