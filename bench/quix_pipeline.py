"""The router benchmark's pipeline in Quix Streams (run with .venv-quix's python, not ecombus').

``python bench/quix_pipeline.py BOOTSTRAP SOURCE TARGET TARGET_SCHEMA_ID GROUP REGISTRY SERDE``:
decode the OrderPlaced values, keep orders whose total is positive, map each to an
OrderStatusChanged ACCEPTED, encode and produce it, with the same librdkafka producer settings
as the other arms. ``SERDE`` ``quix`` uses Quix Streams' own Avro serializers through the schema
registry (what a Quix user writes); ``fastavro`` uses the bare arm's plain fastavro functions
(``bench/plain_avro.py``). The schemas come from ``schemas/``
through ``bench/quix_schemas.json`` (written by bench_router). Prints READY once set up and
starts on a line on stdin, so interpreter start-up and imports are not timed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import plain_avro  # bench/plain_avro.py and bench/mapping.py, beside this script
from mapping import accepted
from quixstreams import Application
from quixstreams.models import Deserializer, SerializationContext, Serializer

PRODUCER = {"enable.idempotence": True, "acks": "all", "compression.type": "zstd", "linger.ms": 10}


class ConfluentAvroIn(Deserializer):  # type: ignore[misc]
    def __init__(self, schema: Any) -> None:
        super().__init__()
        self.decode = plain_avro.decoder(schema)

    def __call__(self, value: bytes, ctx: SerializationContext) -> Any:
        return self.decode(value)


class ConfluentAvroOut(Serializer):  # type: ignore[misc]
    def __init__(self, schema: Any, schema_id: int) -> None:
        super().__init__()
        self.encode = plain_avro.encoder(schema, schema_id)

    def __call__(self, value: Any, ctx: SerializationContext) -> bytes:
        return self.encode(value)


def main() -> None:
    bootstrap, source, target, schema_id, group, registry, serde = sys.argv[1:8]
    schemas = json.loads((Path(__file__).resolve().parent / "quix_schemas.json").read_text(encoding="utf-8"))
    app = Application(broker_address=bootstrap, consumer_group=group, auto_offset_reset="earliest",
                      producer_extra_config=PRODUCER, loglevel="WARNING", use_changelog_topics=False)
    if serde == "quix":
        from quixstreams.models.serializers.avro import AvroDeserializer, AvroSerializer
        from quixstreams.models.serializers.schema_registry import (
            SchemaRegistryClientConfig,
            SchemaRegistrySerializationConfig,
        )

        client = SchemaRegistryClientConfig(url=registry)
        decode: Any = AvroDeserializer(schema_registry_client_config=client)
        encode: Any = AvroSerializer(schemas["orders.status.v1"], schema_registry_client_config=client,
                                     schema_registry_serialization_config=SchemaRegistrySerializationConfig(
                                         auto_register_schemas=True))
    else:
        decode = ConfluentAvroIn(schemas["orders.placed.v1"])
        encode = ConfluentAvroOut(schemas["orders.status.v1"], int(schema_id))
    orders = app.topic(source, value_deserializer=decode, key_deserializer="bytes")
    statuses = app.topic(target, value_serializer=encode, key_serializer="bytes")
    sdf = app.dataframe(orders)
    sdf = sdf.filter(lambda order: order["totals"]["total"]["shop"]["amount"] > 0)
    sdf = sdf.apply(accepted)
    sdf.to_topic(statuses)
    print("READY", flush=True)
    sys.stdin.readline()
    app.run()


if __name__ == "__main__":
    main()
