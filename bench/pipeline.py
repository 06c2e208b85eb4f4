"""What the Kafka→Kafka benchmarks (router, runtime) share: the input, the codec, the timing.

An arm reads ``MESSAGES`` OrderPlaced records from the input topic and writes one output each;
its rate is the messages divided by the time from its start until its last output is on the
broker.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, Producer

from bench.cluster import BenchCluster, say
from bench.mapping import accepted
from bus.contracts.catalog import schema_for_topic
from bus.contracts.examples import order_placed
from bus.runtime.producer import PRODUCER_DEFAULTS
from bus.serde import AvroCodec, RegistryClient

MESSAGES = int(os.environ.get("BENCH_MESSAGES", "50000"))

__all__ = ["MESSAGES", "accepted", "codec", "consumer", "fill", "producer", "rate_of", "wait_output"]


def codec(cluster: BenchCluster, source: str, target: str) -> AvroCodec:
    """ecombus' codec: OrderPlaced read from ``source``, OrderStatusChanged written to ``target``."""
    assert cluster.registry_url
    return AvroCodec(RegistryClient(cluster.registry_url),
                     writer_schemas={source: schema_for_topic("orders.placed.v1"),
                                     target: schema_for_topic("orders.status.v1")},
                     reader_schemas={source: schema_for_topic("orders.placed.v1")})


def fill(cluster: BenchCluster, source: str, lines: int) -> None:
    """Write ``MESSAGES`` OrderPlaced records of ``lines`` lines (Japanese address) to ``source``."""
    encoder = codec(cluster, source, source + ".unused")
    out = producer(cluster)
    for i in range(MESSAGES):
        order = order_placed(1042 + i, line_count=lines).to_avro()
        out.produce(source, key=order["order_id"].encode(), value=encoder.encode(source, order))
        if i % 10_000 == 0:
            out.poll(0)
    out.flush(60)
    size = len(encoder.encode(source, order_placed(1042, line_count=lines).to_avro()))
    say(f"{MESSAGES} OrderPlaced records ({size} bytes: {lines} line(s), Japanese address) in {source}")


def producer(cluster: BenchCluster) -> Producer:
    """A producer with the settings every arm uses (idempotent, zstd, linger 10 ms)."""
    return Producer({"bootstrap.servers": cluster.bootstrap, **PRODUCER_DEFAULTS})


def consumer(cluster: BenchCluster, group: str) -> Consumer:
    return Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group,
                     "auto.offset.reset": "earliest"})


def wait_output(cluster: BenchCluster, target: str, started: float, timeout: float = 600) -> float:
    """Messages per second from ``started`` until every output record is on the broker."""
    deadline = time.monotonic() + timeout
    while cluster.end_offsets(target) < MESSAGES:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{target}: {cluster.end_offsets(target)} of {MESSAGES} outputs")
        time.sleep(0.05)
    return MESSAGES / (time.monotonic() - started)


def rate_of(run: Callable[[threading.Event], None], cluster: BenchCluster, target: str) -> float:
    """Run ``run(stop)`` in a thread until every output is on ``target``; messages per second."""
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(stop,), daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        return wait_output(cluster, target, started)
    finally:
        stop.set()
        thread.join(30)
