"""Our Avro serde and confluent-kafka's own serde read each other's records through a real
broker and the registry (``ecombus registry serve``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from bus.contracts import default_schema_set
from bus.contracts.examples import order_placed
from bus.contracts.models import OrderPlaced
from bus.serde import AvroDecoder, AvroEncoder, RegistryClient

SCHEMA = default_schema_set().schema_json("OrderPlaced")


def _produce(bootstrap: str, topic: str, values: list[tuple[str, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for key, value in values:
        producer.produce(topic, key=key.encode(), value=value)
    assert producer.flush(30) == 0


def _consume(bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}.reader",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        for _ in range(120):
            for msg in consumer.consume(num_messages=count, timeout=0.5):
                assert msg.error() is None, msg.error()
                values.append(msg.value())
            if len(values) >= count:
                break
    finally:
        consumer.close()
    assert len(values) == count
    return values


def test_confluent_deserializer_reads_what_we_write(kafka_bootstrap: str, schema_registry_url: str,
                                                    new_topic: Callable[..., str]) -> None:
    topic = new_topic("orders", partitions=1)
    orders = [order_placed(order_number=1042 + i, line_count=1 + i) for i in range(3)]
    with RegistryClient(schema_registry_url) as registry:
        encoder = AvroEncoder(registry, {topic: SCHEMA})
        _produce(kafka_bootstrap, topic, [(o.order_id, encoder.encode(topic, o)) for o in orders])

    theirs = AvroDeserializer(SchemaRegistryClient({"url": schema_registry_url}))
    ctx = SerializationContext(topic, MessageField.VALUE)
    decoded: list[Any] = [theirs(value, ctx) for value in _consume(kafka_bootstrap, topic, 3)]

    assert [OrderPlaced.from_avro(d) for d in decoded] == orders
    first = decoded[0]
    assert first["shipping_address"]["line1"] == "神宮前1丁目2\u22123"
    assert first["customer"]["last_name"] == "佐藤"
    assert str(first["lines"][0]["unit_price"]["presentment"]["amount"]) == "2650.0000"


def test_we_read_what_the_confluent_serializer_writes(kafka_bootstrap: str, schema_registry_url: str,
                                                      new_topic: Callable[..., str]) -> None:
    topic = new_topic("orders", partitions=1)
    orders = [order_placed(order_number=2000 + i, line_count=2) for i in range(3)]
    theirs = AvroSerializer(SchemaRegistryClient({"url": schema_registry_url}), SCHEMA)
    ctx = SerializationContext(topic, MessageField.VALUE)
    _produce(kafka_bootstrap, topic, [(o.order_id, theirs(o.to_avro(), ctx)) for o in orders])
    values = _consume(kafka_bootstrap, topic, 3)

    with RegistryClient(schema_registry_url) as registry:
        assert registry.latest(f"{topic}-value").id == int.from_bytes(values[0][1:5], "big")
        with_reader = AvroDecoder(registry, {topic: SCHEMA})
        as_written = AvroDecoder(registry, use_contracts=False)
        assert [OrderPlaced.from_avro(with_reader.decode(topic, v)) for v in values] == orders
        assert [OrderPlaced.from_avro(as_written.decode(topic, v)) for v in values] == orders
