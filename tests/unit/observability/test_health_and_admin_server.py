"""Health (heartbeat + readiness checks) and the admin HTTP server, on port 0."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from bus.errors import ConfigError
from bus.observability.admin_server import AdminServer, admin_address
from bus.observability.health import Health
from bus.observability.metrics import RuntimeMetrics


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def test_liveness_follows_the_heartbeat_with_a_fake_clock() -> None:
    clock = FakeClock()
    health = Health(stale_after=30, clock=clock)
    assert not health.liveness().ok  # no beat yet
    health.beat()
    clock.now += 30
    assert health.liveness().ok
    clock.now += 0.5
    status = health.liveness()
    assert not status.ok and "no heartbeat for 30.5s" in status.reasons["loop"]


def test_readiness_names_every_failing_check() -> None:
    health = Health()
    assert health.readiness().ok  # no checks: ready
    health.add_check("broker", lambda: True)
    health.add_check("partitions_assigned", lambda: False)

    def registry() -> bool:
        raise ConnectionError("http://127.0.0.1:1 refused")

    health.add_check("registry", registry)
    status = health.readiness()
    assert not status.ok
    assert status.reasons == {"partitions_assigned": "not ready",
                              "registry": "ConnectionError: http://127.0.0.1:1 refused"}


@pytest.fixture
def served() -> Iterator[tuple[AdminServer, Health, FakeClock, RuntimeMetrics]]:
    clock = FakeClock()
    health = Health(stale_after=10, clock=clock)
    registry = CollectorRegistry()
    metrics = RuntimeMetrics("router", registry)
    server = AdminServer(registry, health, host="127.0.0.1", port=0)
    assert server.port == 0  # nothing bound before start()
    with server:
        yield server, health, clock, metrics
    assert server._server is None


def test_metrics_endpoint_serves_the_injected_registry(served) -> None:
    server, _, _, metrics = served
    metrics.consumed.labels("router", "orders.placed.v1").inc(7)
    status, content_type, body = get(server.url + "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    assert 'ecombus_messages_consumed_total{service="router",topic="orders.placed.v1"} 7.0' in body.decode()


def test_healthz_is_503_with_a_reason_until_the_loop_beats_and_again_when_stale(served) -> None:
    server, health, clock, _ = served
    status, content_type, body = get(server.url + "/healthz")
    assert (status, content_type) == (503, "application/json")
    assert "loop" in json.loads(body)["failing"]
    health.beat()
    assert get(server.url + "/healthz")[0] == 200
    clock.now += 11
    status, _, body = get(server.url + "/healthz")
    assert status == 503 and "no heartbeat" in json.loads(body)["failing"]["loop"]


def test_readyz_lists_failing_checks(served) -> None:
    server, health, _, _ = served
    ready = {"broker": True, "partitions_assigned": False}
    health.add_check("broker", lambda: ready["broker"])
    health.add_check("partitions_assigned", lambda: ready["partitions_assigned"])
    status, _, body = get(server.url + "/readyz")
    assert status == 503
    assert json.loads(body) == {"status": "unavailable", "failing": {"partitions_assigned": "not ready"}}
    ready["partitions_assigned"] = True
    assert get(server.url + "/readyz")[:1] == (200,)
    assert get(server.url + "/nope")[0] == 404


def test_admin_address_defaults_and_env_override() -> None:
    assert admin_address("monitor", {}) == ("0.0.0.0", 9106)
    assert admin_address("order-capture", {})[1] == 9101
    assert admin_address("registry", {})[1] == 9107
    assert admin_address("monitor", {"ECOMBUS_ADMIN_PORT": "0", "ECOMBUS_ADMIN_HOST": "127.0.0.1"}) == (
        "127.0.0.1", 0)
    with pytest.raises(ConfigError, match="ECOMBUS_ADMIN_PORT"):
        admin_address("monitor", {"ECOMBUS_ADMIN_PORT": "http"})
    with pytest.raises(ConfigError, match="ECOMBUS_ADMIN_PORT"):
        admin_address("unknown-service", {})


def test_a_taken_port_fails_with_a_message_naming_the_override() -> None:
    with AdminServer(CollectorRegistry(), Health(), host="127.0.0.1") as first:
        second = AdminServer(CollectorRegistry(), Health(), host="127.0.0.1", port=first.port)
        with pytest.raises(OSError, match="ECOMBUS_ADMIN_PORT"):
            second.start()


def test_one_silent_part_makes_the_service_not_alive_though_another_part_beats() -> None:
    now = [0.0]
    health = Health(stale_after=60, clock=lambda: now[0])
    health.beat("webhooks")
    health.beat("consumer group ecombus.order-capture.intake")
    for _ in range(7):  # the webhook edge goes on beating; the intake stage is stuck
        now[0] += 10
        health.beat("webhooks")
    status = health.liveness()
    assert not status.ok
    assert list(status.reasons) == ["consumer group ecombus.order-capture.intake"]
    assert "no heartbeat for 70.0s" in status.reasons["consumer group ecombus.order-capture.intake"]
    health.beat("consumer group ecombus.order-capture.intake")
    assert health.liveness().ok
