"""Where ecombus keeps downloaded jars (cache) and running local processes' state.

``ECOMBUS_CACHE_DIR`` and ``ECOMBUS_STATE_DIR`` override the XDG defaults
(``~/.cache/ecombus`` and ``~/.local/state/ecombus``).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Per-user cache for downloaded artifacts (the broker jars); safe to delete."""
    explicit = os.environ.get("ECOMBUS_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ecombus"


def state_dir() -> Path:
    """Per-user state of the local bus: pids, ports, logs and the broker's data."""
    explicit = os.environ.get("ECOMBUS_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ecombus"
