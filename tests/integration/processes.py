"""Services run as real processes by the crash tests (SIGKILL, restart)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bus.tools.local.broker import free_port
from tests.service_logs import service_log

ROOT = Path(__file__).resolve().parents[2]
_LOGS: dict[int, Path] = {}


def service_env(bootstrap: str, registry: str, group: str, **extra: str) -> dict[str, str]:
    """The environment of a service under test: this checkout, the test broker and registry, its
    own group and admin port, no audit, and a short session timeout so a killed member's
    partitions come back within seconds. ``extra`` adds the service's own settings."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "SCHEMA_REGISTRY_URL": registry, "ECOMBUS_GROUP_ID": group,
            "ECOMBUS_ADMIN_PORT": str(free_port()), "ECOMBUS_AUDIT": "false",
            "KAFKA_EXTRA_CONFIG": '{"session.timeout.ms": "6000"}', **extra}


def start_service(name: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """``ecombus run NAME`` as a process: stdout discarded, its log (stderr) written to a new file
    among the session's service logs (read back by :func:`log_of`, checked by
    ``tests/test_service_logs.py``)."""
    path = service_log(name)
    with path.open("a", encoding="utf-8") as log:
        process = subprocess.Popen([sys.executable, "-m", "bus.tools.cli", "run", name], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=log, text=True)
    _LOGS[process.pid] = path
    return process


def log_of(process: subprocess.Popen[str]) -> str:
    """What a process started by :func:`start_service` has logged so far."""
    return _LOGS[process.pid].read_text(encoding="utf-8", errors="replace")
