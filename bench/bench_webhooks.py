"""Webhook ingestion: signed Shopify orders/create over HTTP into orders.placed.v1, p50/p99 latency.

A load generator (httpx, ``BENCH_WEBHOOK_CONCURRENCY`` requests in flight, 127.0.0.1 only, at most
``BENCH_WEBHOOKS`` requests and ``BENCH_WEBHOOK_SECONDS`` seconds per arm) posts pre-signed
orders, each a distinct order with a distinct X-Shopify-Event-Id, to order-capture's endpoint
running in its own process (uvicorn, one worker), against a broker and registry on this machine.
The arms serve the same FastAPI endpoint (signature check, JSON with exact decimals, mapping,
Avro encoding) and differ only in what happens next:

* ``empty-200``: a route of the same server answering 200 at once (the HTTP ceiling of this
  machine, load generator included);
* ``no-publish``: answers 200 without producing (HTTP + verify + map + encode);
* ``no-ack``: produces without waiting for the broker's acknowledgement (not safe: a 200 could
  be lost);
* ``order-capture``: the service as shipped: dedupe check, produce, 200 only after acks=all.

Prints progress, then per arm ``<arm>: <requests per second> req/s`` and its p50/p99 lines.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from bench.cluster import BenchCluster, bench_cluster, say
from bus.tools.local.broker import free_port
from bus.webhooks.signatures import SCHEMES
from simulators import fixture

REQUESTS = int(os.environ.get("BENCH_WEBHOOKS", "5000"))
SECONDS = float(os.environ.get("BENCH_WEBHOOK_SECONDS", "60"))
CONCURRENCY = int(os.environ.get("BENCH_WEBHOOK_CONCURRENCY", "32"))
SECRET = "bench-shopify-secret"
SHOP = "hanako-tea.myshopify.com"
ARMS = ("empty-200", "no-publish", "no-ack", "order-capture")


@dataclass
class Result:
    arm: str
    completed: int
    failed: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.completed / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def signed_orders(count: int, run: str) -> list[tuple[bytes, dict[str, str]]]:
    """``count`` distinct orders (the Shopify fixture renumbered), signed, with their headers."""
    template = json.loads(fixture("shopify_orders_create.json"))
    out = []
    for i in range(count):
        body = json.dumps({**template, "id": 7_000_000_000 + i, "name": f"#{100000 + i}"},
                          ensure_ascii=False).encode()
        out.append((body, {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
                           "X-Shopify-Shop-Domain": SHOP, "X-Shopify-Event-Id": f"{run}-{i}",
                           **SCHEMES["shopify"].sign(SECRET, body)}))
    return out


async def load(url: str, requests: list[tuple[bytes, dict[str, str]]]) -> tuple[int, int, float, list[float]]:
    """Post every request with CONCURRENCY in flight, until done or SECONDS elapsed."""
    queue = iter(requests)
    latencies: list[float] = []
    failed = 0
    deadline = time.monotonic() + SECONDS
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failed
        for body, headers in queue:
            if time.monotonic() > deadline:
                return
            started = time.monotonic()
            response = await client.post(url, content=body, headers=headers)
            if response.status_code == 200:
                latencies.append(time.monotonic() - started)
            else:
                failed += 1

    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        began = time.monotonic()
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
        return len(latencies), failed, time.monotonic() - began, latencies


def run_arm(cluster: BenchCluster, arm: str) -> Result:
    assert cluster.registry_url
    topic, customers, port = cluster.new_topic(f"webhooks-{arm}"), cluster.new_topic("customers"), free_port()
    server_arm = "no-publish" if arm == "empty-200" else arm
    server = subprocess.Popen([sys.executable, "-m", "bench.bench_webhooks", "serve", server_arm, str(port),
                               topic, customers, cluster.bootstrap, cluster.registry_url],
                              stdin=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        requests = signed_orders(REQUESTS, f"{arm}-{uuid.uuid4().hex[:6]}")
        url = f"{base}/empty" if arm == "empty-200" else f"{base}/webhooks/shopify"
        asyncio.run(load(url, requests[:200]))  # warm up: connections, code paths
        completed, failed, seconds, latencies = asyncio.run(load(url, requests[200:]))
        if arm == "order-capture":
            stored = cluster.end_offsets(topic)
            say(f"{arm}: {stored} records on {topic} for {completed + 200} acknowledged requests")
        return Result(arm, completed, failed, seconds, latencies)
    finally:
        server.terminate()
        server.wait(30)


async def _empty() -> dict[str, str]:
    return {"status": "ok"}


def serve(arm: str, port: int, topic: str, customers: str, bootstrap: str, registry_url: str) -> None:
    """The server side of one arm (run in its own process until SIGTERM)."""
    from bus.webhooks.publisher import Record, webhook_producer_overrides

    from bus.contracts.catalog import schema_for_topic
    from bus.runtime.idempotency import ProcessedEvents
    from bus.runtime.producer import BusProducer
    from bus.serde import AvroCodec, RegistryClient
    from bus.webhooks import HttpServer, Publication, Published, Publisher, webhook_app
    from services.order_capture.handlers import OrderCapture, Topics
    from services.order_capture.settings import OrderCaptureSettings
    from services.order_capture.wiring import endpoints

    class NoPublish(Publisher):
        async def publish(self, publication: Publication) -> Published:
            for record in publication.records:
                self.codec.encode(record.topic, record.value)
            return Published("published", publication.event_ids)

    class NoAck(Publisher):
        async def _store(self, record: Record, value: bytes) -> None:
            self.producer.produce(record.topic, value, record.key)  # type: ignore

    settings = OrderCaptureSettings(shopify_webhook_secret=SECRET, orders_topic=topic,
                                    customers_topic=customers, status_topic=topic)
    codec = AvroCodec(RegistryClient(registry_url), writer_schemas={
        topic: schema_for_topic("orders.placed.v1"), customers: schema_for_topic("customers.profiles.v1")})
    client: dict[str, Any] = {"bootstrap.servers": bootstrap}
    producer = BusProducer(client, **webhook_producer_overrides(settings.ack_timeout_seconds))
    producer.start_polling()
    processed = ProcessedEvents(client, f"bench-{uuid.uuid4().hex[:8]}", producer)
    processed.start()
    kind = {"no-publish": NoPublish, "no-ack": NoAck, "order-capture": Publisher}[arm]
    publisher = kind(producer, codec, processed, settings.ack_timeout_seconds)
    capture = OrderCapture(Topics(topic, customers, topic))
    codec.encoder.schema_id(topic), codec.encoder.schema_id(customers)
    app = webhook_app("order-capture", endpoints(settings, capture), publisher,
                      max_body_bytes=settings.max_body_bytes)
    app.add_api_route("/ready", lambda: {"status": "ok"})
    app.add_api_route("/empty", _empty, methods=["POST"])
    server = HttpServer(app, "127.0.0.1", port, name=f"bench-{arm}").start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop()
    producer.close(10)


def main() -> None:
    print(f"== webhook ingestion: {REQUESTS} signed Shopify orders per arm, {CONCURRENCY} in flight, "
          f"at most {SECONDS:.0f}s per arm ==", flush=True)
    results = []
    with bench_cluster(registry=True) as cluster:
        for arm in ARMS:
            say(f"running {arm} ...")
            result = run_arm(cluster, arm)
            say(f"{arm}: {result.completed} answered 200 ({result.failed} other) in {result.seconds:.1f}s")
            results.append(result)
    for result in results:  # after the broker stopped: these lines end the output
        print(f"{result.arm}: {result.rate:.0f} req/s")
        print(f"{result.arm} p50: {result.percentile(0.50):.1f} ms")
        print(f"{result.arm} p99: {result.percentile(0.99):.1f} ms", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), *sys.argv[4:8])
    else:
        main()
