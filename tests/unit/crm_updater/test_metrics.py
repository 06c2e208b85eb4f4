"""The CRM flusher's series pass ``promtool check metrics`` beside the runtime's (they share the
service's registry)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from bus.observability.metrics import RuntimeMetrics
from services.crm_updater.batcher import FlusherMetrics

PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not on PATH: run `make tools`")
def test_worker_metrics_pass_promtool() -> None:
    registry = CollectorRegistry()
    RuntimeMetrics("crm-updater", registry).consumed.labels("crm-updater", "t").inc()
    flusher = FlusherMetrics(registry)
    for outcome in ("written", "rejected", "dead_lettered"):
        flusher.contacts.labels("crm-updater", outcome).inc()
    flusher.requests.labels("crm-updater").inc()
    flusher.coalesced.labels("crm-updater").inc()
    flusher.pending.labels("crm-updater").set(1)
    exposition = generate_latest(registry)
    assert b"ecombus_crm_coalesced_updates_total" in exposition
    lint = subprocess.run([PROMTOOL or "promtool", "check", "metrics"], input=exposition,
                          capture_output=True, timeout=60, check=False)
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, b"")
