"""Services run as real processes by the crash tests (SIGKILL, restart)."""

from __future__ import annotations

import os
from pathlib import Path

from bus.tools.local.broker import free_port

ROOT = Path(__file__).resolve().parents[2]


def service_env(bootstrap: str, registry: str, group: str, **extra: str) -> dict[str, str]:
    """The environment of a service under test: this checkout, the test broker and registry, its
    own group and admin port, no audit, and a short session timeout so a killed member's
    partitions come back within seconds. ``extra`` adds the service's own settings."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "SCHEMA_REGISTRY_URL": registry, "ECOMBUS_GROUP_ID": group,
            "ECOMBUS_ADMIN_PORT": str(free_port()), "ECOMBUS_AUDIT": "false",
            "KAFKA_EXTRA_CONFIG": '{"session.timeout.ms": "6000"}', **extra}
