"""One way to assemble and run a service: shared settings, logging, its parts, signals, drain.

Every service's ``main.py`` is the same three lines: it imports ``entry_point`` from here and
its own ``DEFINITION`` from its ``wiring.py``, then says ``run = entry_point(DEFINITION)``.

and its ``wiring.py`` says what the service is made of, on the assembly's metrics registry and
health (the assembly serves both on the service's admin port)::

    def build(assembly: Assembly, settings: CrmUpdaterSettings, ...) -> None:
        assembly.health.add_check("kafka", broker_reachable(client))
        assembly.add("consumer", service)              # a consumer loop
        assembly.add("crm-flusher", flusher)           # a background worker
        assembly.on_close(lambda: producer.close(assembly.shutdown_timeout))

    def assemble(assembly: Assembly) -> None:
        build(assembly, load(CrmUpdaterSettings), load(RuntimeSettings), load(KafkaSettings))

    DEFINITION = ServiceDefinition(SERVICE, assemble)

Tests build the same way on an ``Assembly(SERVICE, admin=("127.0.0.1", 0))`` and run it with a
stop event of their own; :attr:`Assembly.admin_url` tells where ``/metrics`` answers.

:func:`run_service` then does, for every service alike:

1. loads :class:`ServiceSettings` (``ECOMBUS_LOG_LEVEL``, ``ECOMBUS_SHUTDOWN_TIMEOUT_SECONDS``);
   an invalid value raises :class:`~bus.errors.ConfigError` naming the variable (``ecombus run``
   prints it as one ``error:`` line and exits 2);
2. configures JSON logs on stderr at that level, personal data masked;
3. calls the definition's ``assemble`` with an :class:`Assembly`, which declares the parts (a
   consumer loop, an HTTP edge, a background worker: anything with ``run(stop)``) and the
   closers (a producer's flush) — nothing has touched the network yet;
4. starts the admin server (``/metrics`` of :attr:`Assembly.registry`, ``/healthz`` and
   ``/readyz`` of :attr:`Assembly.health`) on the service's admin port (:func:`admin_address`);
5. runs each part in its own thread until SIGTERM or SIGINT, or until any part returns or raises
   (a crashed part stops the others rather than leaving a half-alive process); then sets the
   stop event, gives every part ``shutdown_timeout`` seconds to drain and commit, runs the
   closers in reverse order, stops the admin server, and re-raises the first part's failure.
"""

from __future__ import annotations

import faulthandler
import functools
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CollectorRegistry
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus.observability.admin_server import AdminServer, admin_address
from bus.observability.health import Health
from bus.observability.logging import configure_logging
from bus.observability.metrics import RuntimeMetrics
from bus.runtime.service import Service, Worker
from bus.settings import load

log = logging.getLogger("ecombus.assembly")


class ServiceSettings(BaseSettings):
    """What every service reads alike (environment prefix ``ECOMBUS_``)."""

    model_config = SettingsConfigDict(env_prefix="ECOMBUS_", frozen=True, extra="ignore")

    log_level: str = Field("INFO", pattern="^(?i:debug|info|warning|error|critical)$")
    shutdown_timeout_seconds: float = Field(30.0, gt=0)


class Part(Protocol):
    """A running piece of a service: returns once ``stop`` is set and its work is drained."""

    def run(self, stop: threading.Event) -> None: ...


@dataclass
class Assembly:
    """The parts of one service, what they report on, and how they stop.

    Attributes:
        name: the service (``crm-updater``): thread names, logs, the ``service`` label.
        shutdown_timeout: seconds each part may take to drain after stop.
        admin: (host, port) of the admin server; by default :func:`admin_address` (the
            service's port, or ``ECOMBUS_ADMIN_HOST`` / ``ECOMBUS_ADMIN_PORT``); port 0 picks one.
        registry: the service's metrics; every part registers its own series here.
        health: liveness (parts beat) and readiness (parts add checks).
    """

    name: str
    shutdown_timeout: float = 30.0
    admin: tuple[str, int] | None = None
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    health: Health = field(default_factory=Health)
    parts: list[tuple[str, Part]] = field(default_factory=list)
    closers: list[Callable[[], object]] = field(default_factory=list)
    admin_server: AdminServer | None = field(default=None, init=False)
    _metrics: RuntimeMetrics | None = field(default=None, init=False, repr=False)

    @property
    def metrics(self) -> RuntimeMetrics:
        """The runtime's series (``ecombus_up``, handler, HTTP outcomes...), created once."""
        if self._metrics is None:
            self._metrics = RuntimeMetrics(self.name, self.registry)
        return self._metrics

    @property
    def admin_url(self) -> str:
        """Where ``/metrics``, ``/healthz`` and ``/readyz`` answer (once :meth:`run` started)."""
        if self.admin_server is None:
            raise RuntimeError(f"{self.name}: the admin server is not started")
        return self.admin_server.url

    def add(self, name: str, part: Part) -> Part:
        """Declare a part (run in a thread called ``name``); returns it."""
        self.parts.append((name, part))
        return part

    def add_service(self, service: Service, **workers: Worker) -> Service:
        """Declare a consumer :class:`~bus.runtime.service.Service` (part ``consumer``) and the
        workers beside it (part per keyword, e.g. ``crm_flusher=flusher`` → ``crm-flusher``): each
        starts once the service's start steps finished, and its producer is closed after every
        part stopped. Returns the service."""
        self.add("consumer", service)
        for name, worker in workers.items():
            self.add(name.replace("_", "-"), service.beside(worker))
            self.on_close(functools.partial(worker.producer.close, self.shutdown_timeout))
        return service

    def on_close(self, closer: Callable[[], object]) -> None:
        """Run ``closer`` after every part stopped (closers run in reverse order)."""
        self.closers.append(closer)

    def run(self, stop: threading.Event | None = None) -> None:
        """Run every part until ``stop`` is set or one part ends; drain, close, re-raise a failure."""
        if not self.parts:
            raise ValueError(f"{self.name}: nothing assembled (no part was added)")
        stop = stop or threading.Event()
        failures: list[BaseException] = []
        host, port = self.admin or admin_address(self.name)
        self.admin_server = AdminServer(self.registry, self.health, host, port).start()

        def run_part(name: str, part: Part) -> None:
            try:
                part.run(stop)
            except BaseException as exc:
                log.exception("%s: %s failed; stopping the service", self.name, name)
                failures.append(exc)
            finally:
                stop.set()  # one part ending ends the service

        threads = [threading.Thread(target=run_part, args=(name, part), name=f"{self.name}/{name}",
                                    daemon=True) for name, part in self.parts]
        for thread in threads:
            thread.start()
        try:
            while not stop.wait(0.5):
                pass
        finally:
            stop.set()
            for thread in threads:
                thread.join(self.shutdown_timeout + 10)
                if thread.is_alive():
                    log.error("%s: %s did not stop within %.0fs", self.name, thread.name,
                              self.shutdown_timeout)
            try:
                for closer in reversed(self.closers):
                    closer()
            finally:
                self.admin_server.stop()
        if failures:
            raise failures[0]


@dataclass(frozen=True)
class ServiceDefinition:
    """What a service contributes: its name and how its parts are declared."""

    name: str
    assemble: Callable[[Assembly], None]



def stop_on_signals(stop: threading.Event | None = None) -> threading.Event:
    """``stop`` (or a new event), set by SIGTERM or SIGINT: what :func:`run_service` runs the
    assembly with. Call from the main thread (Python delivers signals there).

    Also, SIGUSR1 writes every thread's Python stack to stderr (the log) and the service goes on
    (``kill -USR1 PID``, ``kubectl exec POD -- kill -USR1 1``): what to look at when ``/healthz``
    says a loop stopped turning. It is written by :mod:`faulthandler`, so it works while every
    thread is stuck, the GIL held in a C call included."""
    event = stop or threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: event.set())
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    return event


def assemble(definition: ServiceDefinition) -> Assembly:
    """Steps 1 to 3 of :func:`run_service`: shared settings, logging, the declared parts."""
    settings = load(ServiceSettings)
    configure_logging(definition.name, settings.log_level)
    assembly = Assembly(definition.name, shutdown_timeout=settings.shutdown_timeout_seconds)
    definition.assemble(assembly)
    return assembly


def run_service(definition: ServiceDefinition) -> None:
    """Assemble the service from the environment and run it until SIGTERM or SIGINT."""
    assembly = assemble(definition)
    log.info("%s starting: %s", definition.name, ", ".join(name for name, _ in assembly.parts))
    assembly.run(stop_on_signals())


def entry_point(definition: ServiceDefinition) -> Callable[[], None]:
    """The ``run()`` a service's ``main.py`` exposes (what ``ecombus run NAME`` calls)."""

    def run() -> None:
        run_service(definition)

    run.__doc__ = f"Run {definition.name} until SIGTERM or SIGINT, its settings read from the environment."
    return run
