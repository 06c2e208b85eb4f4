"""``python -m bench [NAME ...]``: run every ``bench/bench_*.py`` module's ``main()`` in turn.

Names select modules (``serde`` runs ``bench_serde``). A benchmark that fails is reported and
the others still run; the exit code is 1 if any failed.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path


def discover() -> list[str]:
    """Names of the benchmark modules (``bench_*``), sorted."""
    folder = Path(__file__).resolve().parent
    return sorted(m.name for m in pkgutil.iter_modules([str(folder)]) if m.name.startswith("bench_"))


def run(names: list[str]) -> int:
    """Run the named benchmarks (all when empty); the number that failed."""
    available = discover()
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in names] or available
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}",
              file=sys.stderr)
        return len(unknown)
    failed = 0
    for name in wanted:
        print(f"==> {name}", flush=True)
        started = time.monotonic()
        try:
            importlib.import_module(f"bench.{name}").main()
        except Exception:
            failed += 1
            traceback.print_exc()
            print(f"{name} FAILED", flush=True)
            continue
        print(f"    ({name} took {time.monotonic() - started:.0f}s)", flush=True)
    return failed


if __name__ == "__main__":
    raise SystemExit(1 if run(sys.argv[1:]) else 0)
