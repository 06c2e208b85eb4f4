"""Runtime overhead: the ecombus consumer loop vs. a bare confluent-kafka loop, same work.

Both arms read the same input topic (OrderPlaced, Avro, Confluent framing), decode it, map it to
an OrderStatusChanged (ACCEPTED), encode it and produce it to their own output topic. They share
the broker, the registry, the schemas and ecombus' codec (compiled readers and writers); the
difference is what the runtime adds: offsets stored only as the outputs' acknowledgements arrive
(at-least-once), retry and DLQ bookkeeping, metrics, and in the third arm one audit record per
message.

Prints progress, then one line per arm: ``<arm>: <messages per second> msg/s``.
Set BENCH_MESSAGES to change the volume (default 50,000).
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry

from bench import pipeline
from bench.cluster import BenchCluster, bench_cluster, say
from bench.mapping import accepted
from bus.contracts.catalog import schema_for_topic
from bus.observability.metrics import RuntimeMetrics
from bus.runtime import ConsumerLoop, Context, HandlerRegistry, LoopOptions
from bus.runtime.audit import AUDIT_TOPIC, AuditTrail
from bus.runtime.hooks import RuntimeHooks
from bus.runtime.producer import BusProducer
from bus.settings import ClientConfig


def bare(cluster: BenchCluster, source: str) -> float:
    """A hand-written loop: consume batch → decode → map → encode → produce; auto-commit."""
    target = cluster.new_topic("bare-out")
    codec = pipeline.codec(cluster, source, target)
    decode, encode = codec.decode, codec.encode
    consumer = pipeline.consumer(cluster, f"bench.bare.{target}")
    producer = pipeline.producer(cluster)
    consumer.subscribe([source])
    started = time.monotonic()
    done = 0
    while done < pipeline.MESSAGES:
        for msg in consumer.consume(num_messages=500, timeout=0.5):
            if msg.error():
                continue
            out = encode(target, accepted(decode(source, msg.value() or b"")))
            producer.produce(target, key=msg.key(), value=out)
            done += 1
        producer.poll(0)
    producer.flush(60)
    rate = pipeline.wait_output(cluster, target, started)
    consumer.close()
    return rate


def runtime(cluster: BenchCluster, source: str, audit: bool) -> float:
    """The ecombus ConsumerLoop with metrics (and optionally the audit trail) on."""
    target = cluster.new_topic("runtime-out")
    codec = pipeline.codec(cluster, source, target)
    handlers = HandlerRegistry()

    @handlers.handler(source)
    def accept(order: dict[str, Any], ctx: Context) -> None:
        ctx.emit(target, accepted(order), key=ctx.key)

    client: ClientConfig = {"bootstrap.servers": cluster.bootstrap}
    producer = BusProducer(client)
    hooks = RuntimeHooks("bench", RuntimeMetrics("bench", CollectorRegistry()))
    if audit:
        hooks.audit = AuditTrail("bench", producer, codec, topic=cluster.new_topic("audit"))
        codec.encoder.schemas[hooks.audit.topic] = schema_for_topic(AUDIT_TOPIC)
    loop = ConsumerLoop("bench", handlers, client, codec,
                        LoopOptions(group_id=f"bench.runtime.{target}"), producer=producer, hooks=hooks)
    return pipeline.rate_of(loop.run, cluster, target)


def main() -> None:
    print(f"== runtime overhead: {pipeline.MESSAGES} messages, decode → map → encode → produce ==",
          flush=True)
    results: dict[str, float] = {}
    with bench_cluster(registry=True) as cluster:
        source = cluster.new_topic("orders")
        pipeline.fill(cluster, source, lines=2)
        for arm, run in (("bare", lambda: bare(cluster, source)),
                         ("runtime", lambda: runtime(cluster, source, audit=False)),
                         ("runtime+audit", lambda: runtime(cluster, source, audit=True))):
            say(f"running {arm} ...")
            results[arm] = run()
            say(f"{arm}: {results[arm]:,.0f} msg/s")
        base = results["bare"]
        print(f"{'arm':15} {'msg/s':>10} {'vs bare':>8}")
        for arm, rate in results.items():
            print(f"{arm:15} {rate:10,.0f} {rate / base:8.2f}x")
    for arm, rate in results.items():  # after the broker stopped: these lines end the output
        print(f"{arm}: {rate:.0f} msg/s", flush=True)


if __name__ == "__main__":
    main()
