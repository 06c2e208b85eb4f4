"""The router declared on its assembly: which parts, checks and closers; starting the routes once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from bus.assembly import Assembly
from bus.runtime.service import RuntimeSettings
from bus.settings import RegistrySettings
from services.router import SERVICE
from services.router.routes import DEFAULT_ROUTES_FILE, RoutesFile
from services.router.settings import RouterSettings
from services.router.wiring import Router, build
from tests.unit.runtime.fakes import UNREACHABLE_KAFKA

UNREACHABLE = UNREACHABLE_KAFKA
NO_REGISTRY = RegistrySettings(url="http://127.0.0.1:1")

HTTP_ROUTES = """
routes:
  - name: stock-in
    from: {http_in: {path: /erp/stock}}
    to: [{kafka: {topic: stock.json.v1, format: json, key: sku}}]
"""


def close(assembly: Assembly) -> None:
    """What the assembly does after its parts stopped (here: none ran)."""
    for closer in reversed(assembly.closers):
        closer()


def test_the_shipped_routes_are_declared_as_parts_on_the_assembly_registry_and_health(tmp_path: Path) -> None:
    assembly = Assembly(SERVICE, shutdown_timeout=5, admin=("127.0.0.1", 0))
    environ = {"ERP_STOCK_DIR": str(tmp_path / "stock"), "ERP_ORDERS_DIR": str(tmp_path / "orders")}
    router = build(assembly, RouterSettings(routes_file=DEFAULT_ROUTES_FILE, state_dir=tmp_path / "state"),
                   RuntimeSettings(), UNREACHABLE, NO_REGISTRY, environ=environ)
    try:
        assert [name for name, _ in assembly.parts] == ["consumer", "files", "batches"]
        assert router.loop is not None and len(router.files) == 1 and router.http is None
        assert router.health is assembly.health
        assert len(assembly.closers) == 2  # the routes' components and stores, then the producer
        runner = router.runners[0]
        assert runner.metrics is not None
        runner.metrics.child("messages_in", runner.route.name).inc()
        sample = assembly.registry.get_sample_value("ecombus_router_messages_in_total",
                                                    {"route": runner.route.name})
        assert sample == 1.0
        assert set(assembly.health.readiness().reasons) == {"consuming", "kafka", "routes_started"}
        assert not router.started
    finally:
        close(assembly)


def test_an_http_only_router_serves_its_edge_and_beats_its_health_without_a_loop(tmp_path: Path) -> None:
    (tmp_path / "routes.yaml").write_text(HTTP_ROUTES, encoding="utf-8")
    settings = RouterSettings(routes_file=tmp_path / "routes.yaml", state_dir=tmp_path / "state",
                              http_host="127.0.0.1", http_port=0)
    assembly = Assembly(SERVICE, shutdown_timeout=5, admin=("127.0.0.1", 0))
    router = build(assembly, settings, RuntimeSettings(), UNREACHABLE, NO_REGISTRY, environ={})
    assert [name for name, _ in assembly.parts] == ["http", "batches", "heartbeat"]
    assert router.loop is None and router.http is not None
    stop = threading.Event()
    thread = threading.Thread(target=assembly.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not (router.started and router.http.started and assembly.admin_server is not None):
            assert time.monotonic() < deadline, "the router did not start"
            time.sleep(0.02)
        edge = router.http.url
        assert httpx.get(f"{edge}/erp/stock", timeout=5).status_code == 405  # POST only
        while httpx.get(f"{assembly.admin_url}/healthz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "the heartbeat never made the router alive"
            time.sleep(0.1)
        ready = httpx.get(f"{assembly.admin_url}/readyz", timeout=10)
        assert ready.status_code == 503 and "kafka" in ready.json()["failing"]
        assert "routes_started" not in ready.json()["failing"]
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{edge}/erp/stock", timeout=2)


class Store:
    """Stands in for a ProcessedEvents: records its start and close; may fail to load."""

    def __init__(self, events: list[str], name: str, fail: bool = False) -> None:
        self.events, self.name, self.fail = events, name, fail

    def start(self) -> None:
        if self.fail:
            raise TimeoutError(f"{self.name} did not load")
        self.events.append(f"{self.name} started")

    def close(self) -> None:
        self.events.append(f"{self.name} closed")


def test_the_routes_start_once_for_every_part_and_a_failed_start_stops_the_service(tmp_path: Path) -> None:
    events: list[str] = []
    routes = RoutesFile(tmp_path / "routes.yaml", [])
    stores = [Store(events, "marks"), Store(events, "files", fail=True)]
    router = Router(routes, [], RouterSettings(), Assembly(SERVICE).health, stores=stores)  # type: ignore[arg-type]
    assembly = Assembly(SERVICE, shutdown_timeout=5, admin=("127.0.0.1", 0))
    for name in ("a", "b", "c"):
        assembly.add(name, router.part(lambda stop, name=name: events.append(f"{name} worked")))
    assembly.on_close(router.close)
    with pytest.raises(TimeoutError, match="files did not load"):
        assembly.run(threading.Event())
    assert events == ["marks started", "marks closed"]  # no part worked; only what started is closed

    events.clear()
    router = Router(routes, [], RouterSettings(), Assembly(SERVICE).health,
                    stores=[Store(events, "marks")])  # type: ignore[list-item]
    stop = threading.Event()
    assert all(router.start() for _ in range(3)) and events == ["marks started"]
    router.part(lambda _: events.append("worked")).run(stop)
    router.close()
    router.close()
    assert events == ["marks started", "worked", "marks closed"]
