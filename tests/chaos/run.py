"""Running ``ecombus chaos`` as a process from a test, and reading its JSON report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def chaos(tmp_path: Path, *args: str, timeout: float) -> tuple[int, dict[str, Any], str]:
    """``ecombus chaos ARGS --home <tmp>/run --json <tmp>/report.json``: its exit status, its report
    (empty when it could not start) and its output (kept in ``<tmp>/chaos.out``)."""
    report = tmp_path / "report.json"
    argv = [sys.executable, "-m", "bus.tools.cli", "chaos", *args, "--home", str(tmp_path / "run"),
            "--json", str(report)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    (tmp_path / "chaos.out").write_text(output, encoding="utf-8")
    return done.returncode, json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}, output
