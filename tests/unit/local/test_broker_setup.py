"""Start-up errors of the local broker say what to do, before any JVM or download starts."""

import json
import os
import socket
import stat
from pathlib import Path

import pytest

from bus.errors import SetupError
from bus.tools.local.broker import LocalBroker, free_port, process_alive
from bus.tools.local.jars import ensure_kafka_jars


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        broker = LocalBroker(tmp_path, port=port, controller_port=free_port())
        with pytest.raises(SetupError, match=rf"port {port} is already in use.*--port"):
            broker.start()
    assert not (tmp_path / "broker.json").exists()


def test_missing_java_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SetupError, match=r"'java' not found.*openjdk-17"):
        LocalBroker(tmp_path, port=free_port()).start()


def test_maven_failure_points_at_the_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_mvn = bin_dir / "mvn"
    fake_mvn.write_text(
        "#!/bin/sh\necho '[ERROR] Could not transfer artifact org.apache.kafka:kafka_2.13:pom:4.3.1'\n"
        "exit 1\n"
    )
    fake_mvn.chmod(fake_mvn.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("ECOMBUS_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(SetupError, match="could not download from Maven Central") as err:
        ensure_kafka_jars("9.9.9")
    assert "Could not transfer artifact" in str(err.value)
    assert not (tmp_path / "cache" / "kafka-9.9.9" / ".complete").exists()


def test_state_of_a_dead_pid_is_not_running(tmp_path: Path) -> None:
    (tmp_path / "broker.json").write_text(
        '{"pid": 999999, "port": 1, "controller_port": 2, "data_dir": "d", "log_file": "l",'
        ' "started_at": 0, "kafka_version": "4.3.1"}'
    )
    assert not process_alive(999999)
    assert LocalBroker(tmp_path).state() is None


def test_default_controller_port_moves_off_a_taken_port_plus_one(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        said: list[str] = []
        broker = LocalBroker(tmp_path, port=taken - 1, progress=said.append)
        chosen = broker._controller_port()
    assert chosen != taken
    assert f"port {taken} is taken" in said[0] and str(chosen) in said[0]
    # fixed from now on: the next start (same storage) reads the recorded port back
    assert json.loads((tmp_path / "ports.json").read_text())["controller_port"] == chosen


def test_a_formatted_data_dir_keeps_its_controller_port_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "meta.properties").write_text("formatted")
    (tmp_path / "ports.json").write_text('{"controller_port": 19093}')
    said: list[str] = []
    broker = LocalBroker(tmp_path, port=free_port(), controller_port=29093, progress=said.append)
    assert broker._controller_port() == 19093
    assert "formatted with controller port 19093" in said[0] and "--fresh" in said[0]
