"""Router throughput, Kafka to Kafka: decode Avro, filter, map, encode, produce, commit.

Four arms read the same input topic (OrderPlaced with one line, Avro in Confluent framing) on the
same broker in the same run, each writing its own output topic:

* ``raw``: confluent-kafka consume → produce of the bytes untouched: the I/O ceiling.
* ``bare``: a hand-written confluent-kafka loop doing the same decode (plain fastavro with the
  writer schema, ``bench/plain_avro.py``), filter, map (OrderPlaced → OrderStatusChanged
  ACCEPTED) and encode: the practical limit for Python written by hand.
* ``router``: the same as a route of the ecombus router (routes YAML, the runtime's consumer
  loop, at-least-once with offsets stored after the broker's acknowledgement, per-route metrics;
  audit off as in the runtime benchmark). The router decodes with a reader schema projected on
  the fields the route reads, compiled once to a Python decoder (``bus.serde.compiled``).
* ``quix``: the same pipeline in Quix Streams (bench/quix_pipeline.py) with its own Avro
  serializers through the schema registry, in its own virtualenv ``.venv-quix`` (it pins
  confluent-kafka<2.13), created here on first use; skipped with the reason when it cannot be
  installed. The table also shows ``quix+fastavro``: Quix with the bare arm's hand-written
  fastavro serializers plugged in, to separate the framework's cost from its serializers'.

Every producer uses the same librdkafka settings (idempotent, zstd, linger 10 ms). A rate is
messages / (time from the arm's start until its last output is on the broker). Prints progress,
then one line per arm: ``<arm>: <messages per second> msg/s``. BENCH_MESSAGES sets the volume
(default 50,000).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import pipeline, plain_avro
from bench.cluster import BenchCluster, bench_cluster, say
from bench.mapping import accepted
from bus.contracts.catalog import schema_for_topic
from bus.runtime.service import RuntimeSettings
from bus.settings import KafkaSettings, RegistrySettings

ROOT = Path(__file__).resolve().parent.parent
QUIX_VENV = ROOT / ".venv-quix"

ROUTES = """
routes:
  - name: accept-orders
    from: {kafka: {topic: orders.placed.v1}}
    steps:
      - filter: {name: paid, when: "totals.total.shop.amount > 0"}
      - map:
          name: accepted
          fields:
            meta.event_id: "concat('accepted:', meta.event_id)"
            meta.occurred_at: "meta.occurred_at"
            meta.source.platform: "'ecombus'"
            meta.source.system: "'bench'"
            meta.correlation_id: "meta.correlation_id"
            meta.causation_id: "meta.event_id"
            order_id: "order_id"
            status: "'ACCEPTED'"
            previous_status: "'PLACED'"
            reason: "null"
    to:
      - kafka: {topic: orders.status.v1}
"""


def raw(cluster: BenchCluster, source: str) -> float:
    """Bytes in, bytes out: the I/O ceiling."""
    target = cluster.new_topic("raw-out")
    consumer = pipeline.consumer(cluster, f"bench.raw.{target}")
    producer = pipeline.producer(cluster)
    consumer.subscribe([source])
    started, done = time.monotonic(), 0
    while done < pipeline.MESSAGES:
        for msg in consumer.consume(num_messages=500, timeout=0.5):
            if not msg.error():
                producer.produce(target, key=msg.key(), value=msg.value())
                done += 1
        producer.poll(0)
    producer.flush(60)
    rate = pipeline.wait_output(cluster, target, started)
    consumer.close()
    return rate


def bare(cluster: BenchCluster, source: str) -> float:
    """A hand-written loop: decode → filter → map → encode → produce; auto-commit."""
    target = cluster.new_topic("bare-out")
    decode = plain_avro.decoder(schema_for_topic("orders.placed.v1"))
    encode = plain_avro.encoder(schema_for_topic("orders.status.v1"),
                                pipeline.codec(cluster, source, target).encoder.schema_id(target))
    consumer = pipeline.consumer(cluster, f"bench.bare.{target}")
    producer = pipeline.producer(cluster)
    consumer.subscribe([source])
    started, done = time.monotonic(), 0
    while done < pipeline.MESSAGES:
        for msg in consumer.consume(num_messages=500, timeout=0.5):
            if msg.error():
                continue
            order = decode(msg.value() or b"")
            done += 1
            if order["totals"]["total"]["shop"]["amount"] > 0:
                producer.produce(target, key=msg.key(), value=encode(accepted(order)))
        producer.poll(0)
    producer.flush(60)
    rate = pipeline.wait_output(cluster, target, started)
    consumer.close()
    return rate


def router(cluster: BenchCluster, source: str) -> float:
    """The route above on the ecombus router (services.router.wiring.build)."""
    from bus.assembly import Assembly
    from services.router import SERVICE
    from services.router.settings import RouterSettings
    from services.router.wiring import build

    target = cluster.new_topic("router-out")
    folder = Path(tempfile.mkdtemp(prefix="ecombus-bench-router-"))
    (folder / "routes.yaml").write_text(ROUTES, encoding="utf-8")
    assert cluster.registry_url
    settings = RouterSettings(routes_file=folder / "routes.yaml", state_dir=folder / "state",
                              topics={"orders.placed.v1": source, "orders.status.v1": target})
    assembly = Assembly(SERVICE, admin=("127.0.0.1", 0))
    build(assembly, settings, RuntimeSettings(group_id=f"bench.router.{target}", audit=False),
          KafkaSettings(bootstrap_servers=cluster.bootstrap), RegistrySettings(url=cluster.registry_url),
          environ={})
    return pipeline.rate_of(assembly.run, cluster, target)


def quix_python() -> Path | None:
    """The Quix virtualenv's python, created on first use; None (and why) when impossible."""
    python = QUIX_VENV / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import quixstreams, fastavro"],
                                          capture_output=True, check=False).returncode == 0:
        return python
    say(f"creating {QUIX_VENV} (python -m venv, pip install quixstreams fastavro) ...")
    steps = [[sys.executable, "-m", "venv", str(QUIX_VENV)],
             [str(python), "-m", "pip", "install", "-q", "quixstreams", "fastavro"]]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            say(f"quix arm skipped: {' '.join(step[:4])} failed: {(result.stderr or result.stdout)[-400:]}")
            return None
    return python


def quix(cluster: BenchCluster, source: str, python: Path, serde: str = "quix") -> float:
    """The same pipeline in Quix Streams, in its own process and virtualenv.

    ``serde="quix"``: Quix's own Avro serializers through the registry; ``"fastavro"``: the
    bare arm's hand-written fastavro decoding, plugged into Quix.
    """
    import json

    target = cluster.new_topic("quix-out")
    schema_id = pipeline.codec(cluster, source, target).encoder.schema_id(target)
    schemas = {t: schema_for_topic(t) for t in ("orders.placed.v1", "orders.status.v1")}
    (ROOT / "bench" / "quix_schemas.json").write_text(json.dumps(schemas), encoding="utf-8")
    process = subprocess.Popen(
        [str(python), str(ROOT / "bench" / "quix_pipeline.py"), cluster.bootstrap, source, target,
         str(schema_id), f"bench.quix.{target}", str(cluster.registry_url), serde],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdin is not None and process.stdout is not None
    said = []
    while not said or "READY" not in said[-1]:
        said.append(process.stdout.readline())
        if not said[-1]:
            process.kill()
            raise RuntimeError(f"quix pipeline did not start: {''.join(said)[-2000:]}")
    started = time.monotonic()
    process.stdin.write("GO\n")
    process.stdin.flush()
    try:
        return pipeline.wait_output(cluster, target, started)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    print(f"== router Kafka→Kafka: {pipeline.MESSAGES} messages, decode → filter → map → encode → "
          "produce ==", flush=True)
    print(f"  machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start", flush=True)
    python = quix_python()
    results: dict[str, float] = {}
    with bench_cluster(registry=True) as cluster:
        source = cluster.new_topic("orders")
        pipeline.fill(cluster, source, lines=1)
        arms: list[tuple[str, Any]] = [("raw", raw), ("bare", bare), ("router", router)]
        if python is not None:
            arms.append(("quix", lambda c, s: quix(c, s, python)))
            arms.append(("quix+fastavro", lambda c, s: quix(c, s, python, "fastavro")))
        for arm, run in arms:
            say(f"running {arm} ...")
            results[arm] = run(cluster, source)
            say(f"{arm}: {results[arm]:,.0f} msg/s")
        base = results["bare"]
        print(f"{'arm':14} {'msg/s':>10} {'vs bare':>8}")
        for arm, rate in results.items():
            print(f"{arm:14} {rate:10,.0f} {rate / base:8.2f}x")
        if "quix" in results:
            print(f"router vs quix: {results['router'] / results['quix']:.2f}x (target ≥ 2x); "
                  f"router vs bare: {results['router'] / base:.2f}x (target ≥ 0.8x)")
        print(f"  load average {os.getloadavg()[0]:.2f} at the end", flush=True)
    for arm, rate in results.items():  # after the broker stopped: these lines end the output
        if arm != "quix+fastavro":  # shown in the table; the closing lines are the four arms
            print(f"{arm}: {rate:.0f} msg/s", flush=True)


if __name__ == "__main__":
    main()
