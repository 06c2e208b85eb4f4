"""`ecombus local up/status/down` as a user runs them, on their own ports and state dir."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from bus.roundtrip import round_trip
from bus.tools.local.broker import free_port
from tests.integration.cluster import java_pids_using


def _ecombus(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bus.tools.cli", *args], env=env, text=True,
                          capture_output=True, timeout=180)


@pytest.fixture
def local_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {**os.environ, "ECOMBUS_STATE_DIR": str(tmp_path / "state")}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    yield env
    _ecombus("local", "down", env=env)


def test_up_round_trip_down_leaves_no_java(local_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    up = _ecombus("local", "up", "--port", str(port), "--controller-port", str(free_port()),
                  "--registry-port", str(free_port()), env=local_env)
    assert up.returncode == 0, up.stderr
    assert f"KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{port}" in up.stdout

    status = _ecombus("local", "status", env=local_env)
    assert status.returncode == 0 and f"127.0.0.1:{port}" in status.stdout

    result = round_trip({"bootstrap.servers": f"127.0.0.1:{port}"}, 10_000)
    assert result.delivery_errors == []
    assert result.missing == []
    assert result.consumed == result.produced == 10_000

    down = _ecombus("local", "down", env=local_env)
    assert down.returncode == 0, down.stderr
    assert java_pids_using(tmp_path / "state") == []
    assert _ecombus("local", "status", env=local_env).returncode == 1


def test_data_survives_down_and_up_unless_fresh(local_env: dict[str, str]) -> None:
    port = free_port()
    up = ["local", "up", "--port", str(port), "--controller-port", str(free_port()),
          "--registry-port", str(free_port())]
    assert _ecombus(*up, env=local_env).returncode == 0
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})
    admin.create_topics([NewTopic("kept.across.restarts.v1", 1, 1)])["kept.across.restarts.v1"].result(30)
    assert _ecombus("local", "down", env=local_env).returncode == 0

    assert _ecombus(*up, env=local_env).returncode == 0
    assert "kept.across.restarts.v1" in _topics(port)
    assert _ecombus(*up, "--fresh", env=local_env).returncode == 0
    assert "kept.across.restarts.v1" not in _topics(port)


def _topics(port: int) -> set[str]:
    return set(AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"}).list_topics(timeout=30).topics)
