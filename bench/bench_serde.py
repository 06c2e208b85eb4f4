"""Avro serde: encode + decode records/s, ecombus vs. confluent-kafka's AvroSerializer/Deserializer.

Both arms run in the same process against the same registry (``SCHEMA_REGISTRY_URL``, else an
``ecombus registry serve`` on a broker started here from the cached jars), on the same realistic
record: the Shopify fixture's OrderPlaced (Japanese name and address, USD shop and JPY
presentment money, six lines: 895 bytes of Avro with 22 decimals). One iteration is one
encode and one decode, Confluent-framed, with schema ids from the registry:

* ``ecombus``: :class:`bus.serde.AvroEncoder` and :class:`bus.serde.AvroDecoder` with the
  consumer's reader schema, as services use them.
* ``confluent``: ``AvroSerializer`` / ``AvroDeserializer`` with default settings.

Rounds alternate the arms so drift in machine load hits both; the best round counts. Plain
fastavro (``schemaless_writer`` + ``schemaless_reader``, no framing, no registry) is shown too:
the interpreter confluent-kafka's classes wrap, which ecombus replaces with readers and writers
compiled per schema (``bus.serde.compiled``). Ends with one line per arm: ``<arm>: <rate> records/s``.
``BENCH_SERDE_RECORDS`` (default 20,000 per round) and ``BENCH_SERDE_ROUNDS`` (3) tune it.
"""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from bench.cluster import bench_cluster, say
from bus.contracts import default_schema_set
from bus.contracts.examples import order_placed
from bus.serde import AvroDecoder, AvroEncoder, RegistryClient

RECORDS = int(os.environ.get("BENCH_SERDE_RECORDS", "20000"))
ROUNDS = int(os.environ.get("BENCH_SERDE_ROUNDS", "3"))
LINES = 6
ARMS = ("ecombus", "confluent")

RoundTrip = Callable[[dict[str, Any]], Any]


def ecombus_arm(registry_url: str, topic: str, schema: str) -> RoundTrip:
    """Our encoder and decoder (reader schema = the contract), schema ids from the registry."""
    registry = RegistryClient(registry_url)
    encoder = AvroEncoder(registry, {topic: schema})
    decoder = AvroDecoder(registry, {topic: schema})
    encode, decode = encoder.encode, decoder.decode
    return lambda record: decode(topic, encode(topic, record))


def confluent_arm(registry_url: str, topic: str, schema: str) -> RoundTrip:
    """confluent-kafka's serializer and deserializer with default settings."""
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    client = SchemaRegistryClient({"url": registry_url})
    serializer, deserializer = AvroSerializer(client, schema), AvroDeserializer(client)
    ctx = SerializationContext(topic, MessageField.VALUE)
    return lambda record: deserializer(serializer(record, ctx), ctx)


def fastavro_plain() -> RoundTrip:
    """Raw fastavro with a parsed schema: no framing, no registry, no error handling."""
    parsed = parse_schema(default_schema_set().expanded("OrderPlaced"))

    def round_trip(record: dict[str, Any]) -> Any:
        out = io.BytesIO()
        schemaless_writer(out, parsed, record)
        out.seek(0)
        return schemaless_reader(out, parsed, None)

    return round_trip


def measure(round_trip: RoundTrip, record: dict[str, Any], count: int) -> float:
    """Records per second of ``count`` round trips."""
    started = time.perf_counter()
    for _ in range(count):
        round_trip(record)
    return count / (time.perf_counter() - started)


def main() -> None:
    """Run the benchmark and print the per-arm result lines."""
    order = order_placed(line_count=LINES)
    record = order.to_avro()
    schema = default_schema_set().schema_json("OrderPlaced")
    topic = f"bench.serde.{uuid.uuid4().hex[:8]}"  # only its subject is used: no Kafka I/O
    say(f"record: OrderPlaced {order.order_id}, {LINES} lines, customer "
        f"{order.customer.last_name} {order.customer.first_name}")
    with bench_cluster(registry=True) as cluster:
        assert cluster.registry_url is not None
        say(f"registry: {cluster.registry_url}")
        arms = {"ecombus": ecombus_arm(cluster.registry_url, topic, schema),
                "confluent": confluent_arm(cluster.registry_url, topic, schema),
                "fastavro (plain)": fastavro_plain()}
        for name, round_trip in arms.items():  # warm-up: registers the schema, fills caches
            decoded = round_trip(record)
            assert order.from_avro(decoded) == order, f"{name} changed the record"
        say(f"{len(arms)} arms decode the record back unchanged; {ROUNDS} rounds of {RECORDS:,} records")
        best = dict.fromkeys(arms, 0.0)
        for n in range(1, ROUNDS + 1):
            rates = {name: measure(fn, record, RECORDS) for name, fn in arms.items()}
            best = {name: max(best[name], rate) for name, rate in rates.items()}
            say(f"round {n}/{ROUNDS}: " + ", ".join(f"{k} {v:,.0f}/s" for k, v in rates.items()))
    width = max(map(len, best))
    say("")
    say(f"{'arm':{width}}  {'records/s':>10}  {'µs/record':>9}  vs confluent")
    for name, rate in best.items():
        say(f"{name:{width}}  {rate:10,.0f}  {1e6 / rate:9.1f}  {rate / best['confluent']:.2f}x")
    for arm in ARMS:
        print(f"{arm}: {best[arm]:.0f} records/s", flush=True)


if __name__ == "__main__":
    main()
