"""bus.runtime.service as parts of an assembly: start steps before any worker beside the loop, a failed
start step stops the service with its error and the worker never runs, the assembly's metrics only."""

from __future__ import annotations

import threading

import pytest

from bus.assembly import Assembly
from bus.runtime.codec import JsonCodec
from bus.runtime.producer import BusProducer
from bus.runtime.service import Beside, RuntimeSettings, Service
from tests.unit.runtime.fakes import UNREACHABLE_KAFKA

LOCAL = ("127.0.0.1", 0)


class Worker:
    """Records when it ran and with which shutdown time; returns once stopped."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.producer: BusProducer = None  # type: ignore[assignment]  # never used: nothing to close here

    def run(self, stop: threading.Event, shutdown_timeout: float) -> None:
        self.events.append(f"worker runs ({shutdown_timeout:g}s to drain)")
        stop.wait()
        self.events.append("worker drained")


def _service(assembly: Assembly, settings: RuntimeSettings | None = None) -> Service:
    return Service(assembly.name, metrics=assembly.metrics, health=assembly.health,
                   settings=settings or RuntimeSettings(), kafka=UNREACHABLE_KAFKA, codec=JsonCodec())


def test_a_worker_beside_starts_only_once_the_start_steps_finished() -> None:
    events: list[str] = []
    started, stop = threading.Event(), threading.Event()
    part = Beside(Worker(events), started, 7.0)
    runner = threading.Thread(target=part.run, args=(stop,))
    runner.start()
    runner.join(0.3)
    assert events == [], "not before the start steps finished"
    started.set()
    runner.join(0.3)
    assert events == ["worker runs (7s to drain)"]
    stop.set()
    runner.join(5)
    assert not runner.is_alive() and events[-1] == "worker drained"


def test_a_worker_beside_never_runs_when_stopped_before_the_start_steps_finished() -> None:
    events: list[str] = []
    stop = threading.Event()
    stop.set()
    Beside(Worker(events), threading.Event(), 1.0).run(stop)
    assert events == []


def test_a_failed_start_step_stops_the_service_with_its_error_and_the_worker_never_runs() -> None:
    events: list[str] = []
    assembly = Assembly("svc", shutdown_timeout=5, admin=LOCAL)
    service = _service(assembly, RuntimeSettings(shutdown_timeout_seconds=3))

    def restore() -> None:
        events.append("restore")
        raise RuntimeError("changelog unreadable")

    service.on_start(restore)
    assembly.add("consumer", service)
    assembly.add("worker", service.beside(Worker(events)))
    assembly.on_close(lambda: events.append("closed"))
    with pytest.raises(RuntimeError, match="changelog unreadable"):
        assembly.run(threading.Event())
    assert events == ["restore", "closed"]
    assert service.loop is None and not service.started.is_set()


def test_the_service_reports_on_the_metrics_and_health_it_is_given() -> None:
    assembly = Assembly("svc", admin=LOCAL)
    service = _service(assembly)
    assert (service.metrics, service.health, service.registry) == (
        assembly.metrics, assembly.health, assembly.registry)
    assert service.beside(Worker([])).shutdown_timeout == 30.0, "the runtime's shutdown time"
    with pytest.raises(ValueError, match="svc's"):
        Service("other", metrics=assembly.metrics, health=assembly.health)
