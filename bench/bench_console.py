"""The console's journey index: rebuild rate from the topics, lookup latency, memory.

On one broker and registry (:mod:`bench.cluster`), ``BENCH_CONSOLE_AUDIT`` ProcessingRecords
(default 1,000,000) and a tenth as many OrderPlaced are produced as registered, Confluent-framed
Avro on bench topics, ten audit records per order as the services write them (order-capture,
inventory-sync, the router's ERP routes for nine orders in ten, crm-updater, shipping-tracker;
one order in a hundred dead-lettered by the router, with its ``dlq.router`` record). Then:

* **rebuild**: :class:`services.console.tailer.IndexTailer` reads both topics from the beginning
  into a fresh :class:`~services.console.index.JourneyIndex` until caught up; beside it, the
  ceiling measured in the same run: a bare consumer reading the same topics without decoding or
  indexing;
* **lookups**: ``journey()`` and ``search()`` (order number, e-mail) for 1,000 random orders,
  p50/p99; beside them ``bus.ops.trace.trace()`` (what ``ecombus trace`` does: scan the audit
  topic) for 3 orders;
* **memory**: the process' RSS and the SQLite file's size with everything indexed.
"""

from __future__ import annotations

import os
import random
import resource
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from bench.cluster import BenchCluster, bench_cluster, say
from bus.contracts import schema_for_topic
from bus.contracts.examples import order_placed
from bus.ops.trace import trace
from bus.serde import AvroCodec, AvroEncoder, RegistryClient
from bus.topics import TopicSpec, ensure_topics
from services.console.decoding import RecordDecoder
from services.console.index import JourneyIndex, Topics
from services.console.ingest import READ_FIELDS
from services.console.tailer import IndexTailer, consumer_config

AUDIT = int(os.environ.get("BENCH_CONSOLE_AUDIT", "1000000"))
ORDERS = AUDIT // 10
LOOKUPS = 1_000
TRACES = int(os.environ.get("BENCH_CONSOLE_TRACES", "3"))
T0 = int(time.time() * 1000) - 3_600_000
_TRACKING = (("shipping-tracker", "interpret_delivery", "carriers"),
             ("shipping-tracker", "track_shipment", "shipments"))
STEPS = (("order-capture", "interpret_delivery", "intake"), ("inventory-sync", "reserve_stock", "placed"),
         ("router", "orders-to-erp-csv+orders-to-erp-cxml+order-review", "placed"),
         ("crm-updater", "count_order", "placed"), *_TRACKING, *_TRACKING, *_TRACKING)
"""Service, handler and the kind of record handled, of each of an order's ten audit records."""


def order_value(n: int, template: dict[str, Any]) -> dict[str, Any]:
    order_id = f"shopify:hanako-tea.myshopify.com:{6_000_000_000 + n}"
    meta = {**template["meta"], "event_id": f"shopify-order-{order_id}", "correlation_id": order_id,
            "occurred_at": T0 + n * 30}
    customer = {**template["customer"], "email": f"customer{n % (ORDERS // 3 or 1)}@example.jp"}
    return {**template, "meta": meta, "order_id": order_id, "platform_order_id": str(6_000_000_000 + n),
            "order_number": f"#{1000 + n}", "placed_at": T0 + n * 30, "customer": customer}


def audit_value(order_id: str, n: int, step: int, outcome: str, topic: str) -> dict[str, Any]:
    """The ``step``-th audit record of order ``n`` (about the record at ``topic``/0/``n``)."""
    service, handler, _ = STEPS[step]
    at = T0 + n * 30 + step * 1_000
    error = None if outcome == "OK" else {"kind": "PERMANENT", "class_name": "bus.errors.InvalidInput",
                                          "message": "lines[0].sku: missing", "dlq_topic": f"dlq.{service}"}
    return {"meta": {"event_id": f"audit-{n}-{step}", "occurred_at": at,
                     "source": {"platform": "ecombus", "system": service}, "correlation_id": order_id,
                     "causation_id": f"shopify-order-{order_id}"},
            "service": service, "event_id": f"evt-{n}-{step}", "outcome": outcome, "duration_seconds": 0.004,
            "attempts": 1, "error": error, "topic": topic, "partition": 0, "offset": n, "handler": handler,
            "route": "orders-to-erp-cxml" if error else None, "step": None, "order_id": order_id}


def produce(cluster: BenchCluster, topics: dict[str, str], dlq: str) -> None:
    """The orders and their audit trail, encoded by the compiled writer, batched by librdkafka."""
    assert cluster.registry_url
    registry = RegistryClient(cluster.registry_url)
    encoder = AvroEncoder(registry, {topics["placed"]: schema_for_topic("orders.placed.v1"),
                                     topics["audit"]: schema_for_topic("bus.audit.v1")})
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "linger.ms": 50, "batch.size": 1_000_000,
                         "queue.buffering.max.messages": 1_000_000, "queue.buffering.max.kbytes": 1_048_576})
    template = order_placed(1042, line_count=2).to_avro()
    encode, send = encoder.encode, producer.produce
    placed_topic, audit_topic, produced, started = topics["placed"], topics["audit"], 0, time.monotonic()

    def put(topic: str, key: str, value: bytes, **extra: Any) -> None:
        while True:
            try:
                send(topic, value, key, **extra)
                return
            except BufferError:
                producer.poll(0.05)

    for n in range(ORDERS):
        order = order_value(n, template)
        order_id = order["order_id"]
        put(placed_topic, order_id, encode(placed_topic, order))
        for step, (_, _, source) in enumerate(STEPS):
            outcome = "OK"
            if step == 2 and n % 100 == 7:
                outcome = "DEAD_LETTERED"
                put(dlq, order_id, b"\x00original", headers=[
                    ("__connect.errors.topic", placed_topic.encode()), ("__connect.errors.partition", b"0"),
                    ("__connect.errors.offset", str(n).encode()),
                    ("__connect.errors.exception.class.name", b"bus.errors.InvalidInput"),
                    ("__connect.errors.exception.message", b"lines[0].sku: missing")])
            elif step == 2 and n % 10 == 3:
                continue  # not in the ERP yet
            about = placed_topic if source == "placed" else f"bench.{source}"
            put(audit_topic, order_id, encode(audit_topic, audit_value(order_id, n, step, outcome, about)))
            produced += 1
        producer.poll(0)
    producer.flush(120)
    seconds = time.monotonic() - started
    say(f"produced {produced:,} audit records and {ORDERS:,} orders in {seconds:.1f}s "
        f"({(produced + ORDERS) / seconds:,.0f} records/s, encoding included)")


def bare_read(cluster: BenchCluster, topics: list[str]) -> tuple[int, float]:
    """Read the topics to their end without decoding: the ceiling of any rebuild."""
    consumer = Consumer(consumer_config({"bootstrap.servers": cluster.bootstrap}))
    ends, parts = {}, []
    for topic in topics:
        for p in consumer.list_topics(topic, timeout=30).topics[topic].partitions:
            ends[(topic, p)] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            parts.append(TopicPartition(topic, p, OFFSET_BEGINNING))
    started, count = time.monotonic(), 0
    consumer.assign(parts)
    done = {tp for tp, end in ends.items() if end == 0}
    while len(done) < len(ends):
        for msg in consumer.consume(20_000, 1.0):
            if msg.error() is None:
                count += 1
                msg.value()
                if msg.offset() + 1 >= ends[(msg.topic(), msg.partition())]:
                    done.add((msg.topic(), msg.partition()))
            elif msg.offset() >= ends.get((msg.topic(), msg.partition()), 0):
                done.add((msg.topic(), msg.partition()))
    seconds = time.monotonic() - started
    consumer.close()
    return count, seconds


def rebuild(cluster: BenchCluster, roles: Topics, path: Path) -> tuple[JourneyIndex, int, float]:
    assert cluster.registry_url
    index = JourneyIndex(path, roles)
    decoder = RecordDecoder(RegistryClient(cluster.registry_url), keep=READ_FIELDS)
    tailer = IndexTailer(index, lambda: Consumer(consumer_config({"bootstrap.servers": cluster.bootstrap})),
                         decoder.decode, progress_every=250_000)
    stop = threading.Event()
    started = time.monotonic()
    thread = threading.Thread(target=tailer.run, args=(stop,), daemon=True)
    thread.start()
    while not tailer.caught_up.wait(5):
        say(tailer.status())
    seconds = time.monotonic() - started
    stop.set()
    thread.join(30)
    return index, tailer.progress().target, seconds


def rss_mb() -> float:
    """The process' resident memory now (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.99) - 1] * 1000


def timed(call: Any, args: list[Any]) -> list[float]:
    out = []
    for arg in args:
        started = time.perf_counter()
        result = call(arg)
        out.append(time.perf_counter() - started)
        assert result, f"nothing found for {arg!r}"
    return out


def lookups(index: JourneyIndex, picks: list[int]) -> list[tuple[str, str]]:
    """p50/p99 of the pages' queries: per order, and the summaries (each asked 20 times)."""
    rows = []
    order_ids = [f"shopify:hanako-tea.myshopify.com:{6_000_000_000 + n}" for n in picks]
    emails = [f"Customer{n % (ORDERS // 3)}@example.jp" for n in picks]
    for name, call, args in (("journey(order id)", index.journey, order_ids),
                             ("search(order number)", index.search, [f"#{1000 + n}" for n in picks]),
                             ("search(e-mail)", index.search, emails)):
        p50, p99 = percentiles(timed(call, args))
        rows.append((f"{name} x{len(args):,}", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"))
    since = T0 + ORDERS * 30 - 300_000
    for name, summary in (("erp_gap()", index.erp_gap), ("dead_letter_summary()", index.dead_letter_summary),
                          ("service_rates(last 5 min, 10 s)", lambda: index.service_rates(since, 10)),
                          ("dead_letters(service)", lambda: index.dead_letters("router", limit=50)),
                          ("stats()", index.stats)):
        spent = timed(lambda _, ask=summary: ask() or True, list(range(20)))
        rows.append((f"{name} x20", f"p50 {statistics.median(spent) * 1000:.2f} ms, "
                                    f"max {max(spent) * 1000:.2f} ms"))
    return rows


def main() -> None:
    print(f"== console journey index: {AUDIT:,} audit records, {ORDERS:,} orders ==", flush=True)
    rows: list[tuple[str, str]] = []
    with bench_cluster(registry=True) as cluster, tempfile.TemporaryDirectory(prefix="ecombus-ix-") as tmp:
        assert cluster.registry_url
        topics = {"audit": cluster.new_topic("audit", partitions=6), "placed": cluster.new_topic("placed")}
        roles = Topics(audit=topics["audit"], placed=topics["placed"], status="-", reservations="-",
                       shipments="-", intake=(), dlq_prefix=f"bench.{uuid.uuid4().hex[:6]}.dlq.")
        dlq = f"{roles.dlq_prefix}router"
        ensure_topics({"bootstrap.servers": cluster.bootstrap},
                      [TopicSpec(name=dlq, partitions=1, replication_factor=1)], timeout=30)
        produce(cluster, topics, dlq)

        count, seconds = bare_read(cluster, [topics["audit"], topics["placed"], dlq])
        rows.append(("bare consumer, no decoding (ceiling)",
                     f"{count / seconds:,.0f} records/s ({seconds:.1f}s)"))
        say(rows[-1][1])
        rss_before = rss_mb()
        index, indexed, seconds = rebuild(cluster, roles, Path(tmp) / "index.sqlite")
        rows.append(("index rebuild (decode + index)",
                     f"{indexed / seconds:,.0f} records/s ({seconds:.1f}s)"))
        say(rows[-1][1])
        rss_after = rss_mb()
        size_mb = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6
        say(f"indexed: {index.stats().tables}")

        picks = random.Random(7).sample(range(ORDERS), LOOKUPS)
        rows += lookups(index, picks)
        codec = AvroCodec(RegistryClient(cluster.registry_url))
        client = {"bootstrap.servers": cluster.bootstrap}
        spent = timed(lambda o: trace(client, codec, o, since_seconds=86_400, topic=topics["audit"]),
                      [f"shopify:hanako-tea.myshopify.com:{6_000_000_000 + n}" for n in picks[:TRACES]])
        rows.append((f"ecombus trace (scan the audit topic) x{TRACES}",
                     f"p50 {statistics.median(spent) * 1000:,.0f} ms, max {max(spent) * 1000:,.0f} ms"))
        rows.append(("memory with everything indexed", f"RSS {rss_after:,.0f} MB "
                     f"({rss_after - rss_before:+,.0f} MB over the rebuild), SQLite files {size_mb:,.0f} MB"))
        index.close()
    print(f"{'measure':48} result")
    for name, result in rows:
        print(f"{name:48} {result}", flush=True)
