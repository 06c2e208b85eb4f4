"""``promtool check metrics`` finds nothing to lint in what our services expose on /metrics.

Needs ``promtool`` (Debian package ``prometheus``; ``make tools`` installs it when it can). No
broker: the expositions are fetched from a real AdminServer over HTTP, exactly as Prometheus
scrapes them, filled with observations of every metric family.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from bus.observability.admin_server import AdminServer
from bus.observability.health import Health
from bus.observability.lag import GroupLag, LagReport, PartitionLag
from bus.observability.metrics import RuntimeMetrics
from services.monitor.handlers import LagExporter

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not on PATH: run `make tools` (installs Debian's prometheus package as root)",
)


def runtime_registry() -> CollectorRegistry:
    """A service's metrics with every family observed at least once."""
    registry = CollectorRegistry()
    m = RuntimeMetrics("inventory-sync", registry)
    s, t, h = "inventory-sync", "orders.placed.v1", "reserve_stock"
    m.consumed.labels(s, t).inc()
    for outcome in ("ok", "dead_lettered", "duplicate", "skipped"):
        m.processed.labels(s, t, h, outcome).inc()
    m.failures.labels(s, t, h, "transient").inc()
    m.retries.labels(s, t, h).inc()
    m.dead_lettered.labels(s, t, h, "permanent").inc()
    m.duplicates.labels(s, h).inc()
    m.processing_seconds.labels(s, h).observe(0.012)
    m.end_to_end_seconds.labels(s, t).observe(2.5)
    m.produced.labels(s, "inventory.reservations.v1").inc()
    m.delivery_failures.labels(s, "inventory.reservations.v1").inc()
    m.http_requests.labels(s, "shopify", "ok").inc()
    m.http_seconds.labels(s, "shopify").observe(0.2)
    m.webhooks.labels(s, "shopify", "accepted").inc()
    m.in_flight.labels(s).set(3)
    m.mark_up()
    return registry


def monitor_registry() -> CollectorRegistry:
    """The monitor's metrics after a measurement that succeeded and one that failed in part."""
    registry = CollectorRegistry()
    RuntimeMetrics("monitor", registry).mark_up()
    exporter = LagExporter(registry)
    rows = (PartitionLag("ecombus.crm-updater", "customers.profiles.v1", 0, 10, 0, 25, 15, 4.2),
            PartitionLag("ecombus.crm-updater", "customers.profiles.v1", 1, None, 0, 3, 3, None))
    report = LagReport((GroupLag("ecombus.crm-updater", "stable", 2, rows),
                        GroupLag("ecombus.idle", "empty", 0, ())), {"ecombus.broken": "timed out"})
    exporter.poll(lambda: report)
    return registry


def crm_updater_registry() -> CollectorRegistry:
    """The CRM flusher's series beside the runtime's (they share the service's registry)."""
    from services.crm_updater.batcher import FlusherMetrics

    registry = CollectorRegistry()
    RuntimeMetrics("crm-updater", registry).consumed.labels("crm-updater", "t").inc()
    flusher = FlusherMetrics(registry)
    for outcome in ("written", "rejected", "dead_lettered"):
        flusher.contacts.labels("crm-updater", outcome).inc()
    flusher.requests.labels("crm-updater").inc()
    flusher.coalesced.labels("crm-updater").inc()
    flusher.pending.labels("crm-updater").set(1)
    return registry


def inventory_sync_registry() -> CollectorRegistry:
    """The storefront pusher's series beside the runtime's (they share the service's registry)."""
    from services.inventory_sync.coalescer import PusherMetrics

    registry = CollectorRegistry()
    RuntimeMetrics("inventory-sync", registry).consumed.labels("inventory-sync", "t").inc()
    pusher = PusherMetrics(registry)
    for outcome in ("set", "unchanged", "dead_lettered"):
        pusher.pushes.labels("inventory-sync", outcome).inc()
    pusher.retries.labels("inventory-sync").inc()
    pusher.coalesced.labels("inventory-sync").inc(990)
    pusher.pending.labels("inventory-sync").set(3)
    return registry


def scrape(registry: CollectorRegistry) -> bytes:
    with (AdminServer(registry, Health(), host="127.0.0.1", port=0) as server,
          urllib.request.urlopen(server.url + "/metrics", timeout=5) as response):
        return response.read()


@pytest.mark.parametrize(("registry", "expected"), [
    (runtime_registry, b"ecombus_messages_consumed_total"),
    (monitor_registry, b"ecombus_consumergroup_lag"),
    (crm_updater_registry, b"ecombus_crm_coalesced_updates_total"),
    (inventory_sync_registry, b"ecombus_storefront_inventory_coalesced_updates_total"),
], ids=["runtime", "monitor", "crm-updater", "inventory-sync"])
def test_promtool_check_metrics_is_clean(registry, expected: bytes) -> None:
    exposition = scrape(registry())
    assert expected in exposition
    result = subprocess.run([str(PROMTOOL), "check", "metrics"], input=exposition,
                            capture_output=True, timeout=60, check=False)
    lint = (result.stdout + result.stderr).decode()
    assert (result.returncode, lint) == (0, ""), lint


def test_promtool_does_flag_a_bad_name_so_the_check_above_means_something() -> None:
    bad = b"# HELP shop_latency_ms x\n# TYPE shop_latency_ms counter\nshop_latency_ms 1\n"
    result = subprocess.run([str(PROMTOOL), "check", "metrics"], input=bad, capture_output=True,
                            timeout=60, check=False)
    assert result.returncode != 0 and b"_total" in result.stdout + result.stderr
