"""Builds the router from its settings and routes file: the runtime loop for Kafka-sourced routes,
file watchers, the HTTP server, batch timers, metrics and the admin server.

Nothing here talks to the network; :meth:`Router.run` does.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from bus.assembly import Assembly, ServiceDefinition
from bus.contracts.catalog import TOPIC_EVENTS, schema_for_topic
from bus.errors import ConfigError
from bus.observability.admin_server import AdminServer, admin_address
from bus.observability.health import Health
from bus.observability.metrics import RuntimeMetrics
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
from services.router.ingest import Collected, FileIngest, InputRunner
from services.router.message import Origin
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
    """The wired router: call :meth:`run` with an event that stops it."""

    routes: RoutesFile
    runners: list[RouteRunner]
    settings: RouterSettings
    health: Health
    admin: AdminServer
    loop: ConsumerLoop | None = None
    files: list[FileIngest] = field(default_factory=list)
    http: HttpServer | None = None
    producer: BusProducer | None = None
    stores: list[ProcessedEvents] = field(default_factory=list)
    codec: Codec | None = None

    def run(self, stop: threading.Event) -> None:
        """Start everything, run until ``stop`` is set, then drain and close."""
        for store in self.stores:
            store.start()
        components: list[Step | Endpoint] = []
        for runner in self.runners:
            components += [step for _, step in runner.route.all_steps()]
            components += [*runner.route.all_endpoints(), runner.route.source]
        for component in components:
            component.start()
        for ingest in self.files:
            ingest.start()
        threads = [threading.Thread(target=self._watch_files, args=(stop,), name="router-files", daemon=True),
                   threading.Thread(target=self._tick, args=(stop,), name="router-batches", daemon=True)]
        for thread in threads:
            thread.start()
        if self.http is not None:
            self.http.start()
        self.admin.start()
        log.info("router running %d route(s) from %s; admin on %s", len(self.runners),
                 self.routes.path, self.admin.url)
        try:
            if self.loop is not None:
                self.loop.run(stop)
            else:
                while not stop.wait(1.0):
                    self.health.beat()
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            if self.http is not None:
                self.http.stop()
            for component in components:
                component.close()
            for store in self.stores:
                store.close()
            if self.producer is not None:
                self.producer.close(30)
            self.admin.stop()
            log.info("router stopped")

    def _watch_files(self, stop: threading.Event) -> None:
        interval = min((f.endpoint.config.poll_seconds for f in self.files), default=1.0)
        while not stop.wait(interval):
            for ingest in self.files:
                try:
                    ingest.poll_once()
                except Exception:  # one bad file or a broker hiccup must not end the watcher
                    log.exception("file route %s: polling failed; retrying", ingest.route)

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(self.settings.tick_seconds):
            for runner in self.runners:
                try:
                    self._close_windows(runner)
                except Exception:
                    log.exception("route %s: closing a batch window failed; retrying", runner.route.name)

    def _close_windows(self, runner: RouteRunner) -> None:
        for endpoint in runner.route.all_endpoints():
            endpoint.flush_due()
        for _, step in runner.route.all_steps():
            if isinstance(step, Aggregate) and self.codec is not None and self.producer is not None:
                for message, remove in step.due():
                    self._resume(runner, step, message, remove)

    def _resume(self, runner: RouteRunner, step: Aggregate, message: Any, remove: Any) -> None:
        outbox = Collected()
        delivered = runner.resume(step, [message], Origin(None, 0), outbox)
        assert self.codec is not None and self.producer is not None
        for topic, value, key, headers in outbox.emitted:
            self.producer.confirm(topic, self.codec.encode(topic, value), key, headers, timeout=30)
        delivered.acknowledged()
        remove()


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


def build(settings: RouterSettings, runtime: RuntimeSettings, kafka: KafkaSettings,
          registry_settings: RegistrySettings | None = None, *, metrics: CollectorRegistry | None = None,
          environ: dict[str, str] | None = None, http_transport: httpx.BaseTransport | None = None,
          address: tuple[str, int] | None = None) -> Router:
    """Wire the router (see :class:`Router`); ``metrics``/``environ``/``address`` for tests."""
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
    registry = metrics if metrics is not None else CollectorRegistry()
    runtime_metrics = RuntimeMetrics(SERVICE, registry)
    router_metrics = RouterMetrics(registry)
    context.extra["runtime_metrics"] = runtime_metrics
    codec = router_codec(routes, RegistryClient.from_settings(registry_settings or RegistrySettings()))
    context.extra["codec"] = codec
    health = Health()
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
    loop = None
    if by_topic:
        handlers = HandlerRegistry()
        for topic, topic_runners in by_topic.items():
            name = "+".join(r.route.name for r in topic_runners)
            handlers.handler(topic, name=name)(dispatcher(topic_runners))
        exactly_once = runtime.exactly_once or any(r.route.delivery == "exactly-once" for r in runners)
        options = LoopOptions(group_id=runtime.group_id or f"ecombus.{SERVICE}",
                              batch_size=runtime.batch_size, retry=retry, exactly_once=exactly_once,
                              shutdown_timeout=runtime.shutdown_timeout_seconds)
        loop = ConsumerLoop(SERVICE, handlers, client, codec, options,
                            producer=None if exactly_once else producer, hooks=hooks)
        health.add_check("consuming", lambda: hooks.beats > 0)
    health.add_check("kafka", broker_reachable(client))
    http = HttpServer(http_app(http_routes, producer), settings.http_host, settings.http_port,
                      name="router-http") if http_routes else None
    host, port = address or admin_address(SERVICE)
    return Router(routes, runners, settings, health, AdminServer(registry, health, host, port), loop, files,
                  http, producer, stores, codec)


def assemble(assembly: Assembly) -> None:
    """Declare the service's parts from the environment (nothing connects until it runs)."""
    assembly.add(SERVICE, build(load(RouterSettings), load(RuntimeSettings), load(KafkaSettings),
                                load(RegistrySettings)))


DEFINITION = ServiceDefinition(SERVICE, assemble)
"""What ``ecombus run router`` runs (:func:`bus.assembly.run_service`)."""
