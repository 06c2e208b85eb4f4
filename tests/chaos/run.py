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
    (empty when it could not start) and its output (written to ``<tmp>/chaos.out`` as it runs)."""
    report, out = tmp_path / "report.json", tmp_path / "chaos.out"
    argv = [sys.executable, "-m", "bus.tools.cli", "chaos", *args, "--home", str(tmp_path / "run"),
            "--json", str(report)]
    with out.open("w", encoding="utf-8") as sink:
        process = subprocess.Popen(argv, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, text=True)
        try:
            status = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.terminate()  # the run stops its testbed on SIGTERM
            status = process.wait(120)
    output = out.read_text(encoding="utf-8")
    return status, json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}, output
