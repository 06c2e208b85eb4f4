"""The monitor service: settings from the environment and the loop behind its admin endpoints."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from bus.assembly import Assembly
from bus.errors import ConfigError
from bus.observability.lag import measure_lag
from bus.settings import load
from services.monitor import SERVICE
from services.monitor.handlers import LagExporter
from services.monitor.settings import MonitorSettings
from services.monitor.wiring import Monitor, build
from tests.unit.observability.fakes import FakeCluster, FakeTimestamps
from tests.unit.runtime.fakes import UNREACHABLE_KAFKA


def test_settings_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load(MonitorSettings)
    assert (defaults.interval_seconds, defaults.group_prefix, defaults.groups) == (15.0, "ecombus.", ())
    monkeypatch.setenv("ECOMBUS_MONITOR_INTERVAL_SECONDS", "2.5")
    monkeypatch.setenv("ECOMBUS_MONITOR_GROUPS", "analytics, bi.orders")
    monkeypatch.setenv("ECOMBUS_MONITOR_GROUP_PREFIX", "shop.")
    settings = load(MonitorSettings)
    assert (settings.interval_seconds, settings.group_prefix, settings.groups) == (
        2.5, "shop.", ("analytics", "bi.orders"))
    monkeypatch.setenv("ECOMBUS_MONITOR_INTERVAL_SECONDS", "0")
    with pytest.raises(ConfigError, match="ECOMBUS_MONITOR_INTERVAL_SECONDS"):
        load(MonitorSettings)


def http(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_loop_measures_serves_metrics_and_is_ready_once_the_cluster_answered() -> None:
    cluster = FakeCluster()
    cluster.topic("orders.placed.v1", (0, 10), ts={0: {4: 1_000}})
    cluster.group("ecombus.inventory-sync", committed={("orders.placed.v1", 0): 4})
    cluster.down = True
    assembly = Assembly(SERVICE, shutdown_timeout=5, admin=("127.0.0.1", 0))
    registry, health = assembly.registry, assembly.health
    exporter = LagExporter(registry)
    health.add_check("broker_reachable", lambda: exporter.last_ok)
    measured = threading.Event()

    def measure():
        try:
            return measure_lag(cluster, FakeTimestamps(cluster), now=lambda: 11.0)
        finally:
            measured.set()

    settings = MonitorSettings(interval_seconds=0.05)
    assembly.add("lag", Monitor(settings, measure, exporter, assembly.metrics, health))
    stop = threading.Event()
    thread = threading.Thread(target=assembly.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert measured.wait(5)  # the admin server is up before any part runs
        url = assembly.admin_url
        status, body = http(url + "/readyz")
        assert status == 503 and "broker_reachable" in json.loads(body)["failing"]
        cluster.down = False
        for _ in range(200):  # until a measurement after the cluster came back was published
            if exporter.last_ok:
                break
            measured.clear()
            measured.wait(5)
        assert http(url + "/readyz")[0] == 200
        assert http(url + "/healthz")[0] == 200
        status, body = http(url + "/metrics")
        text = body.decode()
        assert 'ecombus_consumergroup_lag{group="ecombus.inventory-sync",partition="0",' \
               'topic="orders.placed.v1"} 6.0' in text
        assert 'ecombus_consumergroup_lag_seconds{group="ecombus.inventory-sync",partition="0",' \
               'topic="orders.placed.v1"} 10.0' in text
        assert 'ecombus_service_up{service="monitor"} 1.0' in text
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert registry.get_sample_value("ecombus_service_up", {"service": "monitor"}) == 0


def test_build_declares_the_measuring_loop_on_the_assembly_with_its_liveness_bound() -> None:
    assembly = Assembly(SERVICE, admin=("127.0.0.1", 0))
    settings = MonitorSettings(interval_seconds=15, request_timeout_seconds=10)
    monitor = build(assembly, settings, UNREACHABLE_KAFKA)
    assert assembly.parts == [("lag", monitor)]
    assert (monitor.health, monitor.metrics) == (assembly.health, assembly.metrics)
    assert monitor.exporter.registry is assembly.registry
    assert assembly.health.stale_after == 15 + 10 * (10 + 5)
    assert assembly.health.readiness().reasons == {"broker_reachable": "not ready"}
