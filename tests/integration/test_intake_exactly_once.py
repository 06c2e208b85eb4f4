"""Exactly once across replicas and crashes: three order-capture processes on one broker.

Each replica is a real ``ecombus run order-capture`` process with its own webhook port and its
own ``ECOMBUS_INSTANCE_ID`` (as StatefulSet pods would have), all in one intake group. The
deliveries are distinct signed Shopify ``orders/create`` webhooks. What must hold: every order
whose webhook was answered 2xx is on the orders topic, and none is there twice (counted by order
id and by event id), however often and wherever the platform delivered it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
from confluent_kafka.admin import AdminClient, NewTopic

from bus.serde import AvroCodec, RegistryClient
from bus.tools.local.broker import free_port
from bus.webhooks.signatures import SCHEMES
from simulators import fixture
from tests.integration.processes import ROOT
from tests.integration.runtime.kafka_io import committed_total, end_offsets, read_all, wait_for

SHOP = "hanako-tea.myshopify.com"
SECRET = "exactly-once-secret"
REPLICAS = 3


@dataclass
class Replica:
    """One order-capture process (restartable on the same port and instance id)."""

    index: int
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "bus.tools.cli", "run", "order-capture"],
                                        cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()

    def ready(self) -> bool:
        try:
            return httpx.post(f"{self.url}/webhooks/shopify", timeout=2).status_code == 415
        except httpx.HTTPError:
            return False


@dataclass
class Cluster:
    bootstrap: str
    registry: str
    topics: dict[str, str]
    replicas: list[Replica] = field(default_factory=list)

    def orders(self) -> tuple[list[str], list[str]]:
        """(order ids, event ids) of every OrderPlaced on the orders topic (read_committed)."""
        codec = AvroCodec(RegistryClient(self.registry))
        events = [codec.decode(self.topics["orders"], m.value()) for m in read_all(self.bootstrap,
                                                                                  self.topics["orders"])]
        return [e["order_id"] for e in events], [e["meta"]["event_id"] for e in events]

    def caught_up(self) -> bool:
        """The intake stage committed every raw delivery stored so far."""
        stored = end_offsets(self.bootstrap, self.topics["intake"])
        return committed_total(self.bootstrap, self.topics["intake"], self.topics["group"]) >= stored


@contextlib.contextmanager
def _cluster(bootstrap: str, registry: str, tag: str) -> Iterator[Cluster]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = {k: f"test.eo.{tag}.{k}.{uuid.uuid4().hex[:8]}"
              for k in ("orders", "customers", "status", "intake")}
    for future in admin.create_topics([NewTopic(n, 3, 1) for n in topics.values()]).values():
        future.result(30)
    topics["group"] = f"test.eo.{tag}.group.{uuid.uuid4().hex[:8]}"
    cluster = Cluster(bootstrap, registry, topics)
    base = {**os.environ, "PYTHONPATH": str(ROOT), "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "SCHEMA_REGISTRY_URL": registry, "ECOMBUS_LOG_LEVEL": "WARNING",
            "SHOPIFY_WEBHOOK_SECRET": SECRET,
            "ECOMBUS_ORDER_CAPTURE_SHOPS": json.dumps([{"platform": "shopify", "domain": SHOP}]),
            "ECOMBUS_ORDER_CAPTURE_HOST": "127.0.0.1",
            "ECOMBUS_ORDER_CAPTURE_ORDERS_TOPIC": topics["orders"],
            "ECOMBUS_ORDER_CAPTURE_CUSTOMERS_TOPIC": topics["customers"],
            "ECOMBUS_ORDER_CAPTURE_STATUS_TOPIC": topics["status"],
            "ECOMBUS_ORDER_CAPTURE_INTAKE_TOPIC": topics["intake"],
            "ECOMBUS_ORDER_CAPTURE_INTAKE_CHANGELOG_TOPIC": f"{topics['intake']}.changelog",
            "ECOMBUS_ORDER_CAPTURE_INTAKE_GROUP_ID": topics["group"],
            "ECOMBUS_ORDER_CAPTURE_RECONCILE_INTERVAL_SECONDS": "0"}
    for index in range(REPLICAS):
        port = free_port()
        cluster.replicas.append(Replica(index, port, {**base, "ECOMBUS_ORDER_CAPTURE_PORT": str(port),
                                                       "ECOMBUS_ADMIN_PORT": str(free_port()),
                                                       "ECOMBUS_INSTANCE_ID": f"{tag}-replica-{index}"}))
    try:
        for replica in cluster.replicas:
            replica.start()
        assert wait_for(lambda: all(r.ready() for r in cluster.replicas), 120), "replicas did not start"
        yield cluster
    finally:
        for replica in cluster.replicas:
            replica.stop()


def _delivery(number: int, tag: str) -> tuple[bytes, dict[str, str]]:
    """A distinct signed orders/create (its own order id and event id)."""
    order = {**json.loads(fixture("shopify_orders_create.json")), "id": 7_000_000 + number,
             "name": f"#{number}"}
    body = json.dumps(order, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
               "X-Shopify-Shop-Domain": SHOP, "X-Shopify-Event-Id": f"{tag}-evt-{number}",
               "X-Shopify-Webhook-Id": uuid.uuid4().hex, **SCHEMES["shopify"].sign(SECRET, body)}
    return body, headers


def _expect_exactly(cluster: Cluster, numbers: list[int]) -> None:
    assert wait_for(cluster.caught_up, 180, interval=1.0), "the intake stage did not catch up"
    order_ids, event_ids = cluster.orders()
    wanted = {f"shopify:{SHOP}:{7_000_000 + n}" for n in numbers}
    lost = wanted - set(order_ids)
    doubled = {o for o in order_ids if order_ids.count(o) > 1}
    assert not lost, f"{len(lost)} acknowledged orders lost"
    assert not doubled, f"{len(doubled)} orders published twice"
    assert len(order_ids) == len(wanted) and len(set(event_ids)) == len(event_ids), "no event id twice"


def test_the_same_deliveries_to_three_replicas_at_once_and_later_yield_each_order_once(
        kafka_bootstrap: str, schema_registry_url: str) -> None:
    numbers = list(range(200))
    deliveries = [_delivery(n, "fanout") for n in numbers]
    with _cluster(kafka_bootstrap, schema_registry_url, "fanout") as cluster, \
            httpx.Client(timeout=30, limits=httpx.Limits(max_connections=48)) as client, \
            ThreadPoolExecutor(max_workers=24) as pool:

        def post_everywhere() -> list[int]:
            jobs = [pool.submit(client.post, f"{r.url}/webhooks/shopify", content=body, headers=headers)
                    for body, headers in deliveries for r in cluster.replicas]
            return [job.result().status_code for job in jobs]

        waves = []
        for pause in (0.0, 0.1, 1.0, 60.0):
            time.sleep(pause)
            waves.append(post_everywhere())
        assert all(status == 200 for wave in waves for status in wave), \
            [(i, s) for i, wave in enumerate(waves) for s in set(wave) if s != 200]
        assert end_offsets(kafka_bootstrap, cluster.topics["intake"]) == 4 * REPLICAS * len(numbers), \
            "every delivery kept as it came"
        _expect_exactly(cluster, numbers)


def test_random_sigkills_of_replicas_under_load_lose_nothing_and_double_nothing(
        kafka_bootstrap: str, schema_registry_url: str) -> None:
    """20 SIGKILLs (each replica restarted at once, same port and instance id) while 400 orders
    are posted 8 at a time; the platform retries every request that got no 2xx, on any replica."""
    rng = random.Random(20261206)
    numbers = list(range(400))
    with _cluster(kafka_bootstrap, schema_registry_url, "kills") as cluster:
        kills: list[int] = []
        done = threading.Event()

        def killer() -> None:
            while len(kills) < 20 and not done.is_set():
                time.sleep(rng.uniform(0.4, 1.2))
                replica = rng.choice(cluster.replicas)
                replica.kill()
                kills.append(replica.index)
                replica.start()

        unanswered: list[int] = []

        def platform(number: int) -> int:
            body, headers = _delivery(number, "kills")
            attempts = 0
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                attempts += 1
                replica = cluster.replicas[(number + attempts) % REPLICAS]
                try:
                    answer = httpx.post(f"{replica.url}/webhooks/shopify", content=body, headers=headers,
                                        timeout=5)
                    if answer.status_code == 200:
                        return attempts
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            unanswered.append(number)
            return attempts

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        with ThreadPoolExecutor(max_workers=8) as pool:
            attempts = list(pool.map(platform, numbers))
        while len(kills) < 20:  # the load ended first: keep killing until 20, then let them recover
            time.sleep(0.5)
        done.set()
        thread.join(30)
        assert not unanswered, f"{len(unanswered)} deliveries never answered 2xx"
        assert len(kills) >= 20
        assert sum(attempts) > len(numbers), "no request was retried: the kills hit nothing"
        assert wait_for(lambda: all(r.ready() for r in cluster.replicas), 120)
        _expect_exactly(cluster, numbers)

