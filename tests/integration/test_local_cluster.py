"""A three-node local cluster keeps acknowledged records, and keeps taking acks=all writes, when
one node is SIGKILLed (replication factor 3, min.insync.replicas=2)."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from bus.tools.local.cluster import LocalCluster
from tests.integration.cluster import java_pids_using

TOPIC = "cluster.survives.one.kill.v1"
PARTITIONS = 3
PER_ROUND = 500
KILLED_NODE = 3


def _produce(bootstrap: str, first: int, count: int) -> list[str]:
    """Produce records ``first``..``first+count-1`` with acks=all; the delivery errors (none = all
    were acknowledged by the in-sync replicas)."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                         "delivery.timeout.ms": 60_000, "linger.ms": 5})
    errors: list[str] = []

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    for n in range(first, first + count):
        producer.produce(TOPIC, key=str(n).encode(), value=str(n).encode(), on_delivery=on_delivery)
        producer.poll(0)
    left = producer.flush(90)
    assert left == 0, f"{left} records still unacknowledged after 90 s"
    return errors


def _consume_all(bootstrap: str, group: str, expected: int) -> list[int]:
    """Every record value of the topic, read from the beginning by a new group (bounded wait)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([TOPIC])
    values: list[int] = []
    deadline = time.monotonic() + 90
    try:
        while len(values) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=1.0):
                if msg.error() is None:
                    values.append(int(msg.value()))
    finally:
        consumer.close()
    return values


def _isrs_without(admin: AdminClient, node_id: int) -> list[list[int]]:
    """The ISR of every partition, once no ISR names ``node_id`` (the answering broker's metadata
    may trail the controller's by a moment) or after 30 s, whichever comes first."""
    deadline = time.monotonic() + 30
    while True:
        partitions = admin.list_topics(TOPIC, timeout=30).topics[TOPIC].partitions.values()
        isrs = [list(p.isrs) for p in partitions]
        if all(node_id not in isr for isr in isrs) or time.monotonic() > deadline:
            return isrs
        time.sleep(0.5)


def test_three_nodes_survive_a_sigkill_without_losing_acknowledged_records(
    kafka_cluster: LocalCluster,
) -> None:
    state = kafka_cluster.state()
    assert state is not None and len(state.nodes) == 3
    bootstrap = state.bootstrap_servers
    admin = AdminClient({"bootstrap.servers": bootstrap})
    assert sorted(admin.list_topics(timeout=30).brokers) == [1, 2, 3]

    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3, config={"min.insync.replicas": "2"})])[
        TOPIC].result(30)
    for partition in admin.list_topics(TOPIC, timeout=30).topics[TOPIC].partitions.values():
        assert sorted(partition.replicas) == [1, 2, 3]

    assert _produce(bootstrap, 0, PER_ROUND) == []
    before = _consume_all(bootstrap, "cluster-test.before", PER_ROUND)
    assert sorted(before) == list(range(PER_ROUND))

    # the internal offsets topic exists now (the group committed nothing, but joined): RF 3, min ISR 2
    offsets = admin.list_topics("__consumer_offsets", timeout=30).topics["__consumer_offsets"]
    assert offsets.error is None
    assert all(len(p.replicas) == 3 for p in offsets.partitions.values())
    internal = ConfigResource(ResourceType.TOPIC, "__consumer_offsets")
    configs = admin.describe_configs([internal])[internal].result(30)
    assert configs["min.insync.replicas"].value == "2"

    killed_pid = kafka_cluster.kill(KILLED_NODE)
    wait_until = time.monotonic() + 30
    while kafka_cluster.node(KILLED_NODE).state() is not None and time.monotonic() < wait_until:
        time.sleep(0.2)
    assert kafka_cluster.node(KILLED_NODE).state() is None, f"pid {killed_pid} survived SIGKILL"

    # acks=all still succeeds: the two remaining replicas satisfy min.insync.replicas=2
    assert _produce(bootstrap, PER_ROUND, PER_ROUND) == []
    isrs = _isrs_without(admin, KILLED_NODE)
    assert all(KILLED_NODE not in isr and len(isr) == 2 for isr in isrs), isrs

    after = _consume_all(bootstrap, "cluster-test.after", 2 * PER_ROUND)
    assert sorted(after) == list(range(2 * PER_ROUND)), "acknowledged records lost or doubled"

    assert kafka_cluster.stop() is True
    assert java_pids_using(kafka_cluster.home) == []
    assert kafka_cluster.state() is None
