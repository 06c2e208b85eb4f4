"""``python -m bench.profiled DIR -m MODULE [ARG ...]``: run a module with every Python thread under cProfile.

cProfile sees only the thread that enabled it, and a service does its work in threads (the HTTP
server's event loop, the producer's delivery reports, the parts). So ``threading.Thread.run`` is
wrapped before the module starts: each thread gets its own profile, and when it ends its stats are
written to ``DIR/<n>-<thread name>.pstats`` (the main thread's when the module returns, e.g. after
SIGTERM). Threads still running at exit are left out. cProfile slows Python code down (every call
is timed), so a profiled run measures where time goes, not how fast the service is.
"""

from __future__ import annotations

import cProfile
import itertools
import re
import runpy
import sys
import threading
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "-m":
        raise SystemExit("usage: python -m bench.profiled DIR -m MODULE [ARG ...]")
    folder, module = Path(argv[0]), argv[2]
    folder.mkdir(parents=True, exist_ok=True)
    numbers = itertools.count()
    original = threading.Thread.run

    def save(profile: cProfile.Profile, name: str) -> None:
        profile.create_stats()
        safe = re.sub(r"[^A-Za-z0-9_.:-]", "_", name)
        profile.dump_stats(folder / f"{next(numbers)}-{safe}.pstats")

    def run(self: threading.Thread) -> Any:
        profile = cProfile.Profile()
        profile.enable()
        try:
            return original(self)
        finally:
            profile.disable()
            save(profile, self.name)

    threading.Thread.run = run  # type: ignore[method-assign]
    sys.argv = [module, *argv[3:]]
    profile = cProfile.Profile()
    profile.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        profile.disable()
        save(profile, "main")


if __name__ == "__main__":
    main(sys.argv[1:])
