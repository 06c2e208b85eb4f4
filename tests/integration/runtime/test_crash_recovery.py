"""SIGKILL a consumer mid-stream and restart it: every event handled, none lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.runtime.kafka_io import committed_total, end_offsets, produce_json, read_all, wait_for

ROOT = Path(__file__).resolve().parents[3]
EVENTS = 10_000


def _start(bootstrap: str, source: str, target: str, group: str, eos: bool,
           die_after: int = 0) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "tests.integration.runtime.forwarder", source, target, group,
            "--bootstrap", bootstrap, "--die-after", str(die_after), *(["--eos"] if eos else [])]
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("eos", [False, True], ids=["at-least-once", "exactly-once"])
def test_sigkill_mid_stream_loses_nothing(kafka_bootstrap: str, new_topic: Callable[..., str],
                                          eos: bool) -> None:
    source, target = new_topic("in", partitions=3), new_topic("out", partitions=3)
    group = f"ecombus.test.{source}"
    produce_json(kafka_bootstrap, source, [{"seq": i} for i in range(EVENTS)], key_of=lambda e: e["seq"])

    first = _start(kafka_bootstrap, source, target, group, eos, die_after=EVENTS // 2)
    first.wait(120)
    assert first.returncode == -signal.SIGKILL, "the forwarder was not killed mid-stream"
    assert end_offsets(kafka_bootstrap, target) > 0, "it made no progress before the kill"

    second = _start(kafka_bootstrap, source, target, group, eos)
    try:
        assert wait_for(lambda: committed_total(kafka_bootstrap, source, group) == EVENTS,
                        timeout=120), "the restarted forwarder did not catch up"
    finally:
        second.send_signal(signal.SIGTERM)
        out, _ = second.communicate(timeout=60)
    assert second.returncode == 0, out
    assert "forwarder stopped" in out

    isolation = "read_committed" if eos else "read_uncommitted"
    seqs = [json.loads(m.value())["seq"] for m in read_all(kafka_bootstrap, target, isolation=isolation)]
    assert set(seqs) == set(range(EVENTS))
    if eos:
        assert len(seqs) == EVENTS, f"{len(seqs) - EVENTS} duplicates under exactly-once"
