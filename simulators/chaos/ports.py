"""Ports a chaos run binds again and again: below the OS's ephemeral range.

A killed broker or service replica is started again on the same port. A port the OS handed out
as free (``bind(0)``) comes from its ephemeral range, from which it also picks the local port of
every outgoing connection: during the seconds a process is down, one of the run's thousands of
connections can take its port, and the restart fails to bind (the suite saw a broker fail so).
:func:`steady_ports` picks consecutive free ports below that range instead, never the same twice
in one process.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

from bus.errors import SetupError
from bus.tools.local.broker import port_is_free

LOWEST = 20000
_given: set[int] = set()
_lock = threading.Lock()


def ephemeral_start() -> int:
    """The first port of the OS's ephemeral range (Linux: ``ip_local_port_range``; else 32768)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def steady_ports(count: int = 1) -> int:
    """The first of ``count`` consecutive ports, free now, below the ephemeral range.

    Raises:
        SetupError: none found after many tries.
    """
    top = min(ephemeral_start(), 32768) - count
    with _lock:
        for _ in range(500):
            base = random.randrange(LOWEST, top)
            wanted = range(base, base + count)
            if not _given.intersection(wanted) and all(port_is_free(p) for p in wanted):
                _given.update(wanted)
                return base
    raise SetupError(f"no {count} free consecutive ports between {LOWEST} and {top}")


def steady_port() -> int:
    """One free port below the ephemeral range (see the module docstring)."""
    return steady_ports(1)
