"""What steps and endpoints may need when they are built: the :class:`BuildContext`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


@dataclass
class BuildContext:
    """Shared by every step and endpoint of a routes file (all injectable in tests).

    Attributes:
        environ: where secrets and settings named in the routes are read.
        state_dir: where durable local state lives (batch spools, aggregates).
        http_transport: an httpx transport for every outbound call (MockTransport in tests).
        clock: wall clock in seconds.
        topics: logical topic → actual topic (tests and staging rename topics).
        extra: what the wiring shares with components (producer, dedupe store, metrics).
    """

    environ: dict[str, str] = field(default_factory=dict)
    state_dir: Path = Path("var/router")
    http_transport: httpx.BaseTransport | None = None
    clock: Callable[[], float] = time.time
    topics: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def secret(self, name: str) -> str:
        """The value of environment variable ``name``; ValueError when it is unset."""
        value = self.environ.get(name)
        if not value:
            raise ValueError(f"secret {name} is not set in the environment")
        return value
