"""The storefront pusher's series pass ``promtool check metrics`` beside the runtime's (they share
the service's registry)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from bus.observability.metrics import RuntimeMetrics
from services.inventory_sync.coalescer import PusherMetrics

PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not on PATH: run `make tools`")
def test_worker_metrics_pass_promtool() -> None:
    registry = CollectorRegistry()
    RuntimeMetrics("inventory-sync", registry).consumed.labels("inventory-sync", "t").inc()
    pusher = PusherMetrics(registry)
    for outcome in ("set", "unchanged", "dead_lettered"):
        pusher.pushes.labels("inventory-sync", outcome).inc()
    pusher.retries.labels("inventory-sync").inc()
    pusher.coalesced.labels("inventory-sync").inc(990)
    pusher.pending.labels("inventory-sync").set(3)
    exposition = generate_latest(registry)
    assert b"ecombus_storefront_inventory_coalesced_updates_total" in exposition
    lint = subprocess.run([PROMTOOL or "promtool", "check", "metrics"], input=exposition,
                          capture_output=True, timeout=60, check=False)
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, b"")
