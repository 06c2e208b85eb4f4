"""Webhook ingest: signed Shopify orders/create deliveries sent by wrk, three receivers on one broker.

Load: wrk (Debian's package; ``make bench`` installs it as root when missing) with
``bench/wrk/deliveries.lua``, replaying pre-built requests (:mod:`bench.webhook_load`): every one a
distinct signed delivery, each wrk thread its own share. ``BENCH_WEBHOOK_THREADS`` threads (2) and
``BENCH_WEBHOOK_CONNECTIONS`` keep-alive connections (32) for ``BENCH_WEBHOOK_SECONDS`` (15) per
arm, after a 2 s warm-up; everything on 127.0.0.1, against one broker and registry on this machine
(:mod:`bench.cluster`). Each receiver runs in its own process:

* ``empty-200``: answers 200 at once (FastAPI on the services' uvicorn server): the HTTP ceiling
  of this machine, load generator included;
* ``hand-written``: verifies the HMAC, produces the raw body with acks=all, answers after the
  ack (:mod:`bench.webhook_receivers`): the least a safe receiver does;
* ``order-capture-1p``: the service as one process (``ecombus run order-capture``: webhook edge
  and intake stage side by side, sharing one interpreter), configured by :func:`order_capture_env`;
* ``order-capture``: the service's webhook edge in its own process, as deployed to scale the edge
  and the intake stage each on its own (``ECOMBUS_ORDER_CAPTURE_PARTS=webhooks`` and ``=intake``,
  :func:`split_parts`), under the same load as the hand-written receiver: what either stores is
  the same raw delivery. The stage starts after the burst: how fast it interprets what the edge
  stored is printed as its own figure (on two cores, a stage running during the burst takes the
  CPU the edge would use; the edge does not wait for it);
* ``order-capture@RATE``: the same two processes paced at ``BENCH_WEBHOOK_RATE`` requests per second
  (1,000) by the Lua script's ``delay()``, with the end-to-end probe (:mod:`bench.webhook_probe`)
  posting one more order every ``BENCH_WEBHOOK_PROBE_MS`` (20 ms) and timing it until its
  OrderPlaced is readable (read_committed); the probe's requests count in the rate.

Prints progress, a table (req/s of 2xx answers, p50, p99, non-2xx, socket errors), the ratios
order-capture / hand-written, the end-to-end latency, then one line per arm:
``<arm>: <requests per second> req/s``. Without wrk it says why and measures nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.cluster import BenchCluster, bench_cluster, say
from bench.webhook_load import (
    PATH,
    WrkResult,
    remove_requests,
    run_wrk,
    signed_orders,
    write_requests,
    wrk_missing,
)
from bench.webhook_probe import EndToEndProbe, percentile
from bus.runtime.audit import AUDIT_TOPIC
from bus.tools.local.broker import free_port
from bus.topics import TopicSpec, ensure_topics

SECONDS = float(os.environ.get("BENCH_WEBHOOK_SECONDS", "15"))
THREADS = int(os.environ.get("BENCH_WEBHOOK_THREADS", "2"))
CONNECTIONS = int(os.environ.get("BENCH_WEBHOOK_CONNECTIONS", "32"))
RATE = float(os.environ.get("BENCH_WEBHOOK_RATE", "1000"))
PROBE_INTERVAL = float(os.environ.get("BENCH_WEBHOOK_PROBE_MS", "20")) / 1000
WARM_UP_SECONDS = 2.0
SECRET = "bench-shopify-secret"
SHOP = "hanako-tea.myshopify.com"

INTAKE_PARTITIONS = 6
"""As ``deploy/topics.yaml`` declares intake.storefronts.v1; the hand-written receiver's topic too."""
ORDER_CAPTURE_ARGS = ["-m", "bus.tools.cli", "run", "order-capture"]
"""The Python arguments that start order-capture (``ecombus run order-capture``)."""


def order_capture_env(cluster: BenchCluster, port: int, admin_port: int, secret: str, shop: str,
                      orders_topic: str) -> dict[str, str]:
    """The whole environment of the order-capture process: the one place to change when its
    configuration changes.

    Args:
        cluster: the broker and registry.
        port: the webhook port (``/webhooks/shopify``), on 127.0.0.1.
        admin_port: ``/readyz`` (the benchmark waits for it) and ``/metrics``.
        secret: the Shopify webhook secret the deliveries are signed with.
        shop: the shop domain of every delivery (the one shop configured).
        orders_topic: where OrderPlaced must land (the probe reads it).

    Its other topics (customers, status, the raw intake) are fresh ones, its intake stage has a
    group of its own, and ``bus.audit.v1`` is created if missing (the stage audits every delivery).
    """
    assert cluster.registry_url
    ensure_topics({"bootstrap.servers": cluster.bootstrap},
                  [TopicSpec(name=AUDIT_TOPIC, partitions=3, replication_factor=1)], timeout=30)
    intake = cluster.new_topic("intake", partitions=INTAKE_PARTITIONS)
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap,
        "SCHEMA_REGISTRY_URL": cluster.registry_url,
        "ECOMBUS_ADMIN_HOST": "127.0.0.1",
        "ECOMBUS_ADMIN_PORT": str(admin_port),
        "ECOMBUS_ORDER_CAPTURE_HOST": "127.0.0.1",
        "ECOMBUS_ORDER_CAPTURE_PORT": str(port),
        "ECOMBUS_ORDER_CAPTURE_ORDERS_TOPIC": orders_topic,
        "ECOMBUS_ORDER_CAPTURE_CUSTOMERS_TOPIC": cluster.new_topic("customers"),
        "ECOMBUS_ORDER_CAPTURE_STATUS_TOPIC": cluster.new_topic("status"),
        "ECOMBUS_ORDER_CAPTURE_INTAKE_TOPIC": intake,
        "ECOMBUS_ORDER_CAPTURE_INTAKE_CHANGELOG_TOPIC": f"{intake}.changelog",
        "ECOMBUS_ORDER_CAPTURE_INTAKE_GROUP_ID": f"{intake}.group",
        "ECOMBUS_ORDER_CAPTURE_SHOPS": json.dumps([{"platform": "shopify", "domain": shop}]),
        "ECOMBUS_ORDER_CAPTURE_RECONCILE_INTERVAL_SECONDS": "0",
        "ECOMBUS_INSTANCE_ID": f"bench-{uuid.uuid4().hex[:8]}",
        "SHOPIFY_WEBHOOK_SECRET": secret,
    }


def split_parts(env: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The environments of order-capture as two processes, as deployed to scale each part on its
    own (``ECOMBUS_ORDER_CAPTURE_PARTS``): the webhook edge, and the intake stage (its own admin
    port and instance id)."""
    edge = {**env, "ECOMBUS_ORDER_CAPTURE_PARTS": "webhooks"}
    stage = {**env, "ECOMBUS_ORDER_CAPTURE_PARTS": "intake", "ECOMBUS_ADMIN_PORT": str(free_port()),
             "ECOMBUS_INSTANCE_ID": f"{env['ECOMBUS_INSTANCE_ID']}-stage"}
    return edge, stage


def wait_until_interpreted(cluster: BenchCluster, env: dict[str, str], timeout: float = 600) -> str:
    """Wait until the intake stage (just started) interpreted what the burst stored; says how fast."""
    started = time.monotonic()
    intake, group = env["ECOMBUS_ORDER_CAPTURE_INTAKE_TOPIC"], env["ECOMBUS_ORDER_CAPTURE_INTAKE_GROUP_ID"]
    stored = cluster.end_offsets(intake)
    while cluster.committed(intake, group) < stored and time.monotonic() - started < timeout:
        time.sleep(0.5)
    took = time.monotonic() - started
    line = (f"intake stage: interpreted the burst's {stored:,} stored deliveries in {took:.1f}s "
            f"({stored / took:,.0f} deliveries/s, one process, alone on the machine but for the broker)")
    say(line)
    return line


@dataclass
class Receiver:
    """A receiver process: where it answers webhooks and where its output goes."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def receiver(name: str, command: list[str], port: int, ready_url: str, folder: Path,
             env: dict[str, str] | None = None, ready_timeout: float = 120) -> Iterator[Receiver]:
    """Start ``command``, wait until ``ready_url`` answers 200, stop it (SIGTERM) at the end."""
    log = folder / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    server = Receiver(name, f"http://127.0.0.1:{port}{PATH}", process, log)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not become ready at {ready_url}:\n{server.tail()}")
            try:
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        say(f"{name} ready (pid {process.pid})")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@dataclass
class Deliveries:
    """Hands out distinct order ids and writes request files for wrk under ``folder``."""

    folder: Path
    run: str = ""
    next_id: int = 7_000_000_000

    def __post_init__(self) -> None:
        self.run = self.run or f"bench{uuid.uuid4().hex[:6]}"

    def take(self, count: int) -> int:
        """Reserve ``count`` order ids; the first."""
        first, self.next_id = self.next_id, self.next_id + count
        return first

    def load(self, server: Receiver, count: int, seconds: float, rate: float | None = None) -> WrkResult:
        """Write ``count`` fresh deliveries, send them with wrk for ``seconds``, remove them."""
        prefix = self.folder / f"{server.name}-{self.next_id}"
        write_requests(prefix, THREADS, signed_orders(self.take(count), count, self.run, SHOP, SECRET))
        try:
            return run_wrk(server.url, prefix, seconds, THREADS, CONNECTIONS, rate)
        finally:
            remove_requests(prefix, THREADS)

    def measure(self, server: Receiver, count: int, rate: float | None = None,
                stateless: bool = False) -> WrkResult:
        """A warm-up, then ``SECONDS`` of load; says what it measured."""
        self.load(server, 3000, WARM_UP_SECONDS, rate)
        say(f"{server.name}: {count:,} deliveries, {SECONDS:.0f}s, {THREADS} threads, {CONNECTIONS} "
            f"connections{f', paced at {rate:,.0f} req/s' if rate else ''} ...")
        result = self.load(server, count, SECONDS, rate)
        say(f"{server.name}: {result.summary()}")
        if result.wraps and not stateless:
            say(f"{server.name}: WARNING the {count:,} deliveries ran out {result.wraps} time(s): "
                "the rest were repeats")
        return result


def enough(faster: WrkResult) -> int:
    """Deliveries for an arm no faster than ``faster`` (same server stack, more work), with a margin."""
    return max(5_000, int(faster.rate * SECONDS * 1.5))


def fixed_rate(cluster: BenchCluster, deliveries: Deliveries, server: Receiver,
               orders_topic: str) -> tuple[WrkResult, EndToEndProbe]:
    """``server`` paced at RATE (the probe's share included), with the end-to-end probe beside it."""
    probe = EndToEndProbe(cluster, server.url, orders_topic, deliveries.take(1_000_000), SHOP, SECRET,
                          PROBE_INTERVAL)
    wrk_rate = RATE - 1 / PROBE_INTERVAL
    count = int(RATE * (SECONDS + WARM_UP_SECONDS) * 1.2)
    deliveries.load(server, 3000, WARM_UP_SECONDS, wrk_rate)
    say(f"{server.name}: paced at {wrk_rate:,.0f} req/s by wrk + {1 / PROBE_INTERVAL:.0f} req/s by the "
        f"end-to-end probe, {SECONDS:.0f}s ...")
    probe.start()
    try:
        result = deliveries.load(server, count, SECONDS, wrk_rate)
    finally:
        probe.stop()
    say(f"{server.name}@{RATE:.0f}: wrk {result.summary()}")
    say(f"probe: {probe.answered} answered 2xx ({probe.failed} not), {len(probe.latencies_ms)} OrderPlaced "
        f"seen, {probe.missing} missing")
    return result, probe


def report(results: dict[str, WrkResult], paced: WrkResult, probe: EndToEndProbe) -> list[str]:
    """The table and ratios; returns the closing lines."""
    paced_name = f"order-capture@{RATE:.0f}"
    achieved = paced.rate + probe.rate
    print(f"{'arm':22} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'socket err':>10}")
    for name, r in [*results.items(), (paced_name, paced)]:
        rate = achieved if name == paced_name else r.rate
        print(f"{name:22} {rate:8,.0f} {r.p50_ms:8.1f} {r.p99_ms:8.1f} {r.non2xx:8} {r.socket_errors:10}")
    hand, service = results["hand-written"], results["order-capture"]
    print(f"order-capture / hand-written: req/s {service.rate / hand.rate:.2f}x (target ≥ 0.8x), "
          f"p99 {service.p99_ms / hand.p99_ms:.2f}x (target ≤ 1.5x)")
    print(f"order-capture at {RATE:,.0f} req/s: achieved {achieved:,.0f} req/s (wrk {paced.rate:,.0f} + "
          f"probe {probe.rate:.0f}), p50 {paced.p50_ms:.1f} ms, p99 {paced.p99_ms:.1f} ms "
          "(target p99 < 50 ms)")
    if achieved < 0.95 * RATE:
        print(f"  order-capture did not sustain {RATE:,.0f} req/s: wrk sends a connection's next request "
              "only after its answer, so the shortfall shows as a lower rate, not as queueing latency")
    e2e = probe.latencies_ms
    print(f"end-to-end request → OrderPlaced readable (read_committed), {len(e2e)} probes at "
          f"{1 / PROBE_INTERVAL:.0f}/s: p50 {percentile(e2e, 0.5):.1f} ms, p99 {percentile(e2e, 0.99):.1f} ms"
          f"{f', {probe.missing} never seen' if probe.missing else ''}")
    print(f"  load average {os.getloadavg()[0]:.2f} at the end", flush=True)
    return [*(f"{name}: {r.rate:.0f} req/s" for name, r in results.items()),
            f"{paced_name}: {achieved:.0f} req/s", f"end-to-end p99: {percentile(e2e, 0.99):.1f} ms"]


def main() -> None:
    print(f"== webhook ingest: wrk, {THREADS} threads, {CONNECTIONS} connections, {SECONDS:.0f}s per arm; "
          "signed Shopify orders/create ==", flush=True)
    missing = wrk_missing()
    if missing:
        print(f"  webhook benchmark skipped: {missing}", flush=True)
        return
    print(f"  machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="ecombus-bench-webhooks-"))
    deliveries = Deliveries(folder)
    results: dict[str, WrkResult] = {}
    python = sys.executable
    with bench_cluster(registry=True) as cluster:
        port = free_port()
        with receiver("empty-200", [python, "-m", "bench.webhook_receivers", "empty-200", str(port)],
                      port, f"http://127.0.0.1:{port}/ready", folder) as server:
            results[server.name] = deliveries.measure(server, 20_000, stateless=True)
        port, topic = free_port(), cluster.new_topic("webhooks-raw", partitions=INTAKE_PARTITIONS)
        with receiver("hand-written", [python, "-m", "bench.webhook_receivers", "hand-written", str(port),
                                       cluster.bootstrap, topic, SECRET],
                      port, f"http://127.0.0.1:{port}/ready", folder) as server:
            results[server.name] = deliveries.measure(server, enough(results["empty-200"]))
        say(f"hand-written: {cluster.end_offsets(topic):,} records on {topic}")
        port, admin, orders = free_port(), free_port(), cluster.new_topic("orders")
        env = order_capture_env(cluster, port, admin, SECRET, SHOP, orders)
        with receiver("order-capture-1p", [python, *ORDER_CAPTURE_ARGS], port,
                      f"http://127.0.0.1:{admin}/readyz", folder, env) as server:
            results[server.name] = deliveries.measure(server, enough(results["hand-written"]))
        port, admin, orders = free_port(), free_port(), cluster.new_topic("orders")
        edge, stage = split_parts(order_capture_env(cluster, port, admin, SECRET, SHOP, orders))
        stage_admin = stage["ECOMBUS_ADMIN_PORT"]
        with receiver("order-capture", [python, *ORDER_CAPTURE_ARGS], port, f"http://127.0.0.1:{admin}/readyz",
                      folder, edge) as server:
            results[server.name] = deliveries.measure(server, enough(results["hand-written"]))
            with receiver("order-capture-stage", [python, *ORDER_CAPTURE_ARGS], port,
                          f"http://127.0.0.1:{stage_admin}/readyz", folder, stage):
                catch_up = wait_until_interpreted(cluster, edge)
                paced, probe = fixed_rate(cluster, deliveries, server, orders)
        say(f"order-capture: {cluster.end_offsets(orders):,} OrderPlaced on {orders}")
        closing = report(results, paced, probe)
        print(catch_up, flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    for line in closing:  # after the broker stopped: these lines end the output
        print(line, flush=True)


if __name__ == "__main__":
    main()
