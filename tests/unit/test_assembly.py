"""bus.assembly: one way to run a service (parts, drain, closers) and ECOMBUS_LOG_LEVEL for each."""

from __future__ import annotations

import importlib
import logging
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner

from bus.assembly import Assembly, ServiceDefinition, assemble
from bus.errors import ConfigError
from bus.tools.cli import main, plugins

LOCAL = ("127.0.0.1", 0)


class Part:
    """Runs until stopped, or fails at once when told to; records what happened to it."""

    def __init__(self, events: list[str], name: str, fail: bool = False) -> None:
        self.events, self.name, self.fail = events, name, fail

    def run(self, stop: threading.Event) -> None:
        if self.fail:
            raise RuntimeError(f"{self.name} broke")
        stop.wait()
        self.events.append(f"{self.name} drained")


def test_every_part_runs_until_stop_then_drains_before_the_closers_in_reverse_order() -> None:
    events: list[str] = []
    assembly = Assembly("svc", shutdown_timeout=5, admin=LOCAL)
    assembly.add("loop", Part(events, "loop"))
    assembly.add("edge", Part(events, "edge"))
    assembly.on_close(lambda: events.append("producer closed"))
    assembly.on_close(lambda: events.append("admin closed"))
    stop = threading.Event()
    runner = threading.Thread(target=assembly.run, args=(stop,))
    runner.start()
    stop.set()
    runner.join(10)
    assert not runner.is_alive()
    assert sorted(events[:2]) == ["edge drained", "loop drained"]
    assert events[2:] == ["admin closed", "producer closed"]


def test_the_admin_server_serves_the_assembly_metrics_and_health_while_it_runs() -> None:
    assembly = Assembly("svc", shutdown_timeout=5, admin=LOCAL)
    assembly.metrics.mark_up()
    assembly.health.add_check("dependency", lambda: False)
    assembly.add("loop", Part([], "loop"))
    stop = threading.Event()
    runner = threading.Thread(target=assembly.run, args=(stop,))
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while assembly.admin_server is None and time.monotonic() < deadline:
            time.sleep(0.01)
        url = assembly.admin_url
        assert 'ecombus_service_up{service="svc"} 1.0' in httpx.get(f"{url}/metrics").text
        ready = httpx.get(f"{url}/readyz")
        assert ready.status_code == 503 and "dependency" in ready.text
    finally:
        stop.set()
        runner.join(10)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz", timeout=2)


def test_a_failing_part_stops_the_others_and_its_error_is_raised() -> None:
    events: list[str] = []
    assembly = Assembly("svc", shutdown_timeout=5, admin=LOCAL)
    assembly.add("loop", Part(events, "loop"))
    assembly.add("worker", Part(events, "worker", fail=True))
    assembly.on_close(lambda: events.append("closed"))
    with pytest.raises(RuntimeError, match="worker broke"):
        assembly.run(threading.Event())
    assert events == ["loop drained", "closed"]


def test_an_assembly_without_parts_is_refused() -> None:
    with pytest.raises(ValueError, match="nothing assembled"):
        Assembly("svc", admin=LOCAL).run(threading.Event())


def test_an_invalid_log_level_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOMBUS_LOG_LEVEL", "loud")
    with pytest.raises(ConfigError, match="ECOMBUS_LOG_LEVEL"):
        assemble(ServiceDefinition("svc", lambda assembly: None))


@pytest.fixture
def root_level() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    root.handlers[:] = handlers


@pytest.mark.parametrize("service", plugins.available_services())
def test_ecombus_log_level_reaches_the_service(service: str, monkeypatch: pytest.MonkeyPatch,
                                               root_level: None) -> None:
    monkeypatch.setenv("ECOMBUS_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # built, never connected:
    monkeypatch.setenv("KAFKA_EXTRA_CONFIG", '{"log_level": "0"}')  # librdkafka keeps quiet about it
    monkeypatch.setenv("ECOMBUS_CONSOLE_TOKENS",  # the console starts only with a way to sign in
                       '[{"user": "ana", "role": "operator", "token": "a-token-of-sixteen"}]')
    module = importlib.import_module(f"services.{service.replace('-', '_')}.wiring")
    definition = module.DEFINITION
    assert definition.name == service
    logging.getLogger().setLevel(logging.WARNING)
    assembly = assemble(definition)
    assert logging.getLogger().level == logging.DEBUG
    names = [name for name, _ in assembly.parts]
    assert names and len(set(names)) == len(names), "its parts declared, each under its own name"


def test_ecombus_log_level_reaches_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    command = plugins.load_command("registry")
    assert command is not None
    serve = command.commands["serve"]  # type: ignore[attr-defined]
    monkeypatch.setenv("ECOMBUS_LOG_LEVEL", "DEBUG")
    assert serve.make_context("serve", []).params["log_level"] == "debug"
    assert "env ECOMBUS_LOG_LEVEL" in CliRunner().invoke(main, ["registry", "serve", "--help"]).output


class Worker:
    """A worker whose producer records how it was closed."""

    def __init__(self) -> None:
        self.producer = self
        self.closed_with: list[float] = []

    def close(self, timeout: float) -> int:
        self.closed_with.append(timeout)
        return 0

    def run(self, stop: threading.Event, shutdown_timeout: float) -> None:
        stop.wait()


def test_add_service_declares_the_consumer_and_its_workers_whose_producers_close_last() -> None:
    from bus.runtime.service import Service
    from tests.unit.runtime.fakes import UNREACHABLE_KAFKA

    assembly = Assembly("svc", shutdown_timeout=7, admin=LOCAL)
    service = Service("svc", metrics=assembly.metrics, health=assembly.health, kafka=UNREACHABLE_KAFKA)
    flusher = Worker()
    assert assembly.add_service(service, crm_flusher=flusher) is service
    assert [name for name, _ in assembly.parts] == ["consumer", "crm-flusher"]
    assert assembly.parts[0][1] is service
    assert not service.started.is_set()  # the worker part waits for the start steps
    for closer in assembly.closers:
        closer()
    assert flusher.closed_with == [7]


def test_sigusr1_writes_every_threads_stack_to_the_log_and_the_service_goes_on() -> None:
    code = textwrap.dedent("""
        import sys, threading, time
        from bus.assembly import stop_on_signals
        stop = stop_on_signals()
        def stuck_in_a_loop():
            time.sleep(30)
        threading.Thread(target=stuck_in_a_loop, name="stuck", daemon=True).start()
        print("ready", flush=True)
        stop.wait(30)
        print("stopped", flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        assert child.poll() is None, "SIGUSR1 did not stop the service"
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert out.strip() == "stopped" and child.returncode == 0
    assert "in stuck_in_a_loop" in err and "Thread 0x" in err, err
