"""Background processes of the local bus (registry, services, simulators), tracked by pid files.

Each process is started in its own session with its output in ``<state>/logs/<name>.log`` and a
record in ``<state>/procs/<name>.json``; ``stop`` sends SIGTERM to its process group, then
SIGKILL after a timeout. The broker itself is managed by :mod:`bus.tools.local.broker`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bus.errors import SetupError
from bus.tools.local.broker import process_alive, tail
from bus.tools.local.paths import state_dir


@dataclass(frozen=True)
class ProcessRecord:
    """What ``procs/<name>.json`` records about a started process."""

    name: str
    pid: int
    argv: list[str]
    log_file: str
    port: int | None
    started_at: float


def _procs_dir(home: Path | None) -> Path:
    return (home or state_dir()) / "procs"


def record(name: str, home: Path | None = None) -> ProcessRecord | None:
    """The record of a named process that is still alive, else None."""
    path = _procs_dir(home) / f"{name}.json"
    try:
        rec = ProcessRecord(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    return rec if process_alive(rec.pid) else None


def running(home: Path | None = None) -> list[ProcessRecord]:
    """Every tracked process that is alive, by name."""
    folder = _procs_dir(home)
    names = sorted(p.stem for p in folder.glob("*.json")) if folder.exists() else []
    return [r for r in (record(n, home) for n in names) if r is not None]


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def start(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    ready_port: int | None = None,
    timeout: float = 60.0,
    home: Path | None = None,
) -> ProcessRecord:
    """Start ``argv`` in the background (or return it if it already runs) and wait until ready.

    Ready means ``ready_port`` accepts connections (or, without a port, the process is alive).

    Raises:
        SetupError: the process exited or did not become ready; the message has its log tail.
    """
    existing = record(name, home)
    if existing:
        return existing
    base = home or state_dir()
    log_file = base / "logs" / f"{name}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    _procs_dir(home).mkdir(parents=True, exist_ok=True)
    if ready_port is not None and port_accepts(ready_port):
        raise SetupError(f"{name}: port {ready_port} is already in use; stop what listens there")
    with open(log_file, "ab") as out:
        proc = subprocess.Popen(
            list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, **(env or {})},
        )
    rec = ProcessRecord(name, proc.pid, list(argv), str(log_file), ready_port, time.time())
    (_procs_dir(home) / f"{name}.json").write_text(json.dumps(asdict(rec)), encoding="utf-8")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SetupError(f"{name} exited during start-up (code {proc.returncode}); "
                             f"last lines of {log_file}:\n{tail(log_file)}")
        if ready_port is None or port_accepts(ready_port):
            return rec
        time.sleep(0.2)
    stop(name, home=home)
    raise SetupError(f"{name} was not ready on port {ready_port} within {timeout:.0f}s; "
                     f"last lines of {log_file}:\n{tail(log_file)}")


def stop(name: str, timeout: float = 15.0, home: Path | None = None) -> bool:
    """SIGTERM the named process group, SIGKILL after ``timeout``. False if it was not running."""
    rec = record(name, home)
    (_procs_dir(home) / f"{name}.json").unlink(missing_ok=True)
    if rec is None:
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(rec.pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process_alive(rec.pid):
            time.sleep(0.1)
        if not process_alive(rec.pid):
            return True
    return True
