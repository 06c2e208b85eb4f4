"""Shared fixtures: one real Kafka broker per test session, unique topic names per test.

The broker is chosen in this order (README.md, "Pointing at an existing cluster"):

1. ``KAFKA_BOOTSTRAP_SERVERS`` names an existing cluster: use it, start nothing.
2. A Docker engine answers: testcontainers' Kafka module.
3. Otherwise: a broker started from the cached Maven jars on free ports in a temp dir, stopped
   when the session ends.

All three are real Apache Kafka. Tests marked ``integration`` use the broker; the others must not.
"""

from __future__ import annotations

import gc
import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from bus.tools.local.broker import LocalBroker, free_port
from tests.service_logs import run_last, service_log_sink

__all__ = ["service_log_sink"]  # autouse: every in-process log line of the session, as a service writes it

_BROKER_USED: list[str] = []
"""What the session's integration tests ran against, for the closing summary."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    run_last(items)  # the check of every service log the session wrote (tests/test_service_logs.py)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _BROKER_USED:
        terminalreporter.write_line(f"integration tests ran against {line}")


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bootstrap address of a real Kafka broker for this test session."""
    named = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if named:
        _BROKER_USED.append(f"the cluster named by KAFKA_BOOTSTRAP_SERVERS={named}")
        yield named
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer  # type: ignore[import-untyped]

        with KafkaContainer().with_kraft() as container:
            address = container.get_bootstrap_server()
            _BROKER_USED.append(f"a testcontainers Kafka at {address}")
            yield address
        return
    home: Path = tmp_path_factory.mktemp("kafka")
    broker = LocalBroker(home, port=free_port(), controller_port=free_port(), progress=print)
    state = broker.start()
    _BROKER_USED.append(f"Apache Kafka {state.kafka_version} started from the Maven jars at "
                        f"{state.bootstrap_servers} (pid {state.pid}, KRaft, {home})")
    try:
        yield state.bootstrap_servers
    finally:
        gc.collect()  # clients tests dropped go now, not after the broker (each would log refusals)
        broker.stop()


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": kafka_bootstrap})


@pytest.fixture
def unique_topic(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Make topic names unique to this test, so tests never see each other's data."""
    test = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:40].strip("-")

    def make(base: str = "t") -> str:
        return f"test.{test}.{base}.{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
def new_topic(kafka_admin: AdminClient, unique_topic: Callable[[str], str]) -> Callable[..., str]:
    """Create a uniquely named topic on the session broker and return its name."""

    def create(base: str = "t", partitions: int = 3, config: dict[str, str] | None = None) -> str:
        name = unique_topic(base)
        futures = kafka_admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})]
        )
        futures[name].result(timeout=30)
        return name

    return create


@pytest.fixture(scope="session")
def schema_registry_url(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of an ``ecombus registry serve`` process on the session broker (its own log topic)."""
    from bus.tools.local.registry import RegistryProcess

    log_file = tmp_path_factory.mktemp("registry") / "registry.log"
    registry = RegistryProcess(kafka_bootstrap, f"_schemas.test.{uuid.uuid4().hex[:8]}", log_file=log_file)
    try:
        yield registry.start()
    finally:
        registry.stop()
