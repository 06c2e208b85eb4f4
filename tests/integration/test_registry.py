"""The registry on a real broker: confluent-kafka's own client and serde, restarts, replicas."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from bus.tools.local.registry import RegistryProcess

ORDER = {
    "type": "record", "name": "OrderPlaced", "namespace": "com.ecombus.orders",
    "fields": [
        {"name": "order_id", "type": "string"},
        {"name": "customer_name", "type": "string"},
        {"name": "total", "type": {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 4}},
        {"name": "currency", "type": "string"},
    ],
}


def with_fields(*fields: dict[str, Any]) -> str:
    return json.dumps({**ORDER, "fields": [*ORDER["fields"], *fields]})


def subject_name(unique_topic: Callable[[str], str]) -> str:
    return f"{unique_topic('subject')}-value"


def test_confluent_avro_serializer_and_deserializer_with_default_settings(
    schema_registry_url: str, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    from decimal import Decimal

    topic = new_topic("orders", partitions=1)
    client = SchemaRegistryClient({"url": schema_registry_url})
    serializer = AvroSerializer(client, json.dumps(ORDER))
    deserializer = AvroDeserializer(client)
    orders = [{"order_id": f"o-{i}", "customer_name": "山田 太郎", "total": Decimal("1234.5000"),
               "currency": "JPY"} for i in range(3)]
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for order in orders:
        value = serializer(order, SerializationContext(topic, MessageField.VALUE))
        producer.produce(topic, key=order["order_id"].encode(), value=value)
    assert producer.flush(30) == 0

    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"g-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    received: list[Any] = []
    try:
        for _ in range(300):
            message = consumer.poll(0.2)
            if message is None or message.error():
                if len(received) == len(orders):
                    break
                continue
            assert message.value()[:1] == b"\x00"
            received.append(deserializer(message.value(), SerializationContext(topic, MessageField.VALUE)))
    finally:
        consumer.close()
    assert received == orders

    registered = client.get_latest_version(f"{topic}-value")
    assert registered.version == 1
    assert json.loads(registered.schema.schema_str)["name"] == "OrderPlaced"


def test_client_api_register_lookup_versions_and_config(
    schema_registry_url: str, unique_topic: Callable[[str], str]
) -> None:
    client = SchemaRegistryClient({"url": schema_registry_url})
    subject = subject_name(unique_topic)
    first = client.register_schema(subject, Schema(json.dumps(ORDER), "AVRO"))
    spaced = Schema(json.dumps(ORDER, indent=2), "AVRO")
    assert SchemaRegistryClient({"url": schema_registry_url}).register_schema(subject, spaced) == first
    optional = with_fields({"name": "note", "type": ["null", "string"], "default": None})
    second = client.register_schema(subject, Schema(optional, "AVRO"))
    assert second != first
    assert client.get_versions(subject) == [1, 2]
    assert client.lookup_schema(subject, Schema(optional, "AVRO")).version == 2
    assert client.get_schema(first).schema_str is not None
    client.set_compatibility(subject, "FULL_TRANSITIVE")
    assert client.get_compatibility(subject) == "FULL_TRANSITIVE"
    assert client.test_compatibility(subject, Schema(json.dumps(ORDER), "AVRO")) is True
    assert subject in client.get_subjects()


def test_incompatible_schema_is_409_naming_the_field(
    schema_registry_url: str, unique_topic: Callable[[str], str]
) -> None:
    client = SchemaRegistryClient({"url": schema_registry_url})
    subject = subject_name(unique_topic)
    client.set_compatibility(subject, "FULL_TRANSITIVE")
    client.register_schema(subject, Schema(json.dumps(ORDER), "AVRO"))
    without_currency = json.dumps({**ORDER, "fields": ORDER["fields"][:3]})
    with pytest.raises(SchemaRegistryError) as failure:
        client.register_schema(subject, Schema(without_currency, "AVRO"))
    assert failure.value.http_status_code == 409
    assert "currency" in failure.value.error_message
    verbose = httpx.post(f"{schema_registry_url}/compatibility/subjects/{subject}/versions/latest",
                         params={"verbose": "true"}, json={"schema": without_currency})
    assert verbose.json()["is_compatible"] is False
    assert any("currency" in m for m in verbose.json()["messages"])


def test_soft_and_permanent_delete(schema_registry_url: str, unique_topic: Callable[[str], str]) -> None:
    client = SchemaRegistryClient({"url": schema_registry_url})
    subject = subject_name(unique_topic)
    client.register_schema(subject, Schema(json.dumps(ORDER), "AVRO"))
    client.register_schema(subject, Schema(with_fields({"name": "n", "type": "int", "default": 0}), "AVRO"))
    with pytest.raises(SchemaRegistryError) as early:
        client.delete_version(subject, 1, permanent=True)
    assert early.value.error_code == 40407
    assert client.delete_version(subject, 1) == 1
    assert client.get_versions(subject) == [2]
    assert client.delete_version(subject, 1, permanent=True) == 1
    assert client.delete_subject(subject) == [2]
    assert subject not in client.get_subjects()
    assert client.delete_subject(subject, permanent=True) == [2]
    deleted = httpx.get(f"{schema_registry_url}/subjects", params={"deleted": "true"}).json()
    assert subject not in deleted


def test_restart_keeps_subjects_versions_ids_and_config(kafka_bootstrap: str, tmp_path: Any) -> None:
    topic = f"_schemas.restart.{uuid.uuid4().hex[:8]}"
    schemas = [json.dumps(ORDER), with_fields({"name": "note", "type": ["null", "string"], "default": None})]
    with RegistryProcess(kafka_bootstrap, topic, log_file=tmp_path / "first.log") as first:
        ids = [httpx.post(f"{first.url}/subjects/s-value/versions", json={"schema": s}).json()["id"]
               for s in schemas]
        other = httpx.post(f"{first.url}/subjects/t-value/versions", json={"schema": '"string"'}).json()["id"]
        httpx.put(f"{first.url}/config/s-value", json={"compatibility": "FULL"})
        httpx.delete(f"{first.url}/subjects/t-value")
    with RegistryProcess(kafka_bootstrap, topic, log_file=tmp_path / "second.log") as second:
        assert httpx.get(f"{second.url}/subjects").json() == ["s-value"]
        assert httpx.get(f"{second.url}/subjects/s-value/versions").json() == [1, 2]
        for version, schema_id in enumerate(ids, start=1):
            answer = httpx.get(f"{second.url}/subjects/s-value/versions/{version}").json()
            assert answer["id"] == schema_id
        assert httpx.get(f"{second.url}/config/s-value").json() == {"compatibilityLevel": "FULL"}
        assert httpx.get(f"{second.url}/schemas/ids/{other}").status_code == 200  # soft-deleted
        again = httpx.post(f"{second.url}/subjects/s-value/versions", json={"schema": schemas[0]})
        assert again.json() == {"id": ids[0]}
        fresh = httpx.post(f"{second.url}/subjects/u-value/versions", json={"schema": '"long"'}).json()
        assert fresh["id"] == max([*ids, other]) + 1


def test_two_replicas_registering_concurrently_agree_on_ids(kafka_bootstrap: str, tmp_path: Any) -> None:
    topic = f"_schemas.replicas.{uuid.uuid4().hex[:8]}"
    schemas = [json.dumps({"type": "record", "name": f"R{i}", "fields": [{"name": "f", "type": "int"}]})
               for i in range(12)]
    with RegistryProcess(kafka_bootstrap, topic, log_file=tmp_path / "a.log") as a, \
            RegistryProcess(kafka_bootstrap, topic, log_file=tmp_path / "b.log") as b:
        httpx.put(f"{a.url}/config", json={"compatibility": "NONE"})

        def register(url: str, order: list[int]) -> dict[int, int]:
            with httpx.Client(base_url=url, timeout=60) as http:
                answers = {i: http.post("/subjects/shared-value/versions", json={"schema": schemas[i]})
                           for i in order}
                return {i: answer.json()["id"] for i, answer in answers.items()}

        with ThreadPoolExecutor(4) as pool:
            forward = list(range(len(schemas)))
            results = list(pool.map(register, [a.url, b.url, a.url, b.url],
                                    [forward, forward[::-1], forward[::-1], forward]))
        assert all(r == results[0] for r in results)
        assert sorted(results[0].values()) == list(range(1, len(schemas) + 1))
        every_version = list(range(1, len(schemas) + 1))
        for url in (a.url, b.url):
            assert httpx.get(f"{url}/subjects/shared-value/versions").json() == every_version
        views = [[httpx.get(f"{url}/subjects/shared-value/versions/{v}").json() for v in every_version]
                 for url in (a.url, b.url)]
        assert views[0] == views[1]
