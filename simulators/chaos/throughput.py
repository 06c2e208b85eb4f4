"""``python -m simulators.chaos.throughput``: the orders per second one replica of each consumer
handles on this machine, for docs/operations.md.

On a testbed of one broker and one replica of each service (:class:`~simulators.chaos.testbed.Testbed`),
every service is paused (SIGSTOP), ``--orders`` OrderPlaced are written to orders.placed.v1 (the
example order, 2 lines, 500 customers), then each consumer of that topic is resumed alone
(SIGCONT) and timed from the first record it committed until its group has no lag left; it is
paused again before the next one, so they never share the two cores. A consumer whose group the
pause outlived rejoins first: the clock starts at its first commit, not at SIGCONT.
"""

from __future__ import annotations

import signal
import time
import uuid
from dataclasses import replace
from pathlib import Path

import click
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from bus.contracts import examples
from bus.contracts.catalog import schema_for_topic
from bus.serde import AvroCodec, RegistryClient
from simulators.chaos.brokers import QUIET
from simulators.chaos.testbed import Testbed
from simulators.chaos.traffic import expected_demand

TOPIC = "orders.placed.v1"
GROUPS = {"inventory-sync": "ecombus.inventory-sync", "crm-updater": "ecombus.crm-updater",
          "router": "ecombus.router"}
CUSTOMERS = 500


def lag(admin: AdminClient, consumer: Consumer, group: str) -> int:
    """Records of orders.placed.v1 the group has not committed yet."""
    request = [ConsumerGroupTopicPartitions(group)]
    listed = admin.list_consumer_group_offsets(request)[group].result(30)
    committed = {tp.partition: tp.offset for tp in listed.topic_partitions if tp.topic == TOPIC}
    total = 0
    for partition in consumer.list_topics(TOPIC, timeout=30).topics[TOPIC].partitions:
        high = consumer.get_watermark_offsets(TopicPartition(TOPIC, partition), timeout=30)[1]
        total += high - max(committed.get(partition, 0), 0)
    return total


def publish(bootstrap: str, registry: str, orders: int) -> None:
    codec = AvroCodec(RegistryClient(registry), writer_schemas={TOPIC: schema_for_topic(TOPIC)})
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20, "logger": QUIET})
    base = examples.order_placed(line_count=2)
    for number in range(orders):
        order_id = f"shopify:{examples.SHOP}:{7_000_000 + number}"
        customer = replace(base.customer, email=f"customer{number % CUSTOMERS}@example.com")
        order = replace(base, order_id=order_id, order_number=f"#{900_000 + number}", customer=customer,
                        meta=replace(base.meta, event_id=f"throughput-{uuid.uuid4().hex}",
                                     correlation_id=order_id))
        producer.produce(TOPIC, codec.encode(TOPIC, order), key=order_id)
        producer.poll(0)
    producer.flush(120)


@click.command()
@click.option("--orders", default=5000, show_default=True, help="OrderPlaced records in the backlog.")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--timeout", default=600.0, show_default=True, help="Longest drain of one consumer.")
def main(orders: int, home: Path, timeout: float) -> None:
    """Time each consumer of orders.placed.v1 through a backlog of ``--orders`` records."""
    testbed = Testbed(home, 1, dict.fromkeys(GROUPS, 1), say=click.echo)
    try:
        testbed.start(expected_demand(orders))
        replicas = {r.service: r for r in testbed.fleet.replicas if r.number}
        for replica in replicas.values():
            testbed.fleet.send(replica, signal.SIGSTOP)
        publish(testbed.bootstrap, testbed.registry_url, orders)
        admin = AdminClient({"bootstrap.servers": testbed.bootstrap, "logger": QUIET})  # type: ignore[dict-item]
        consumer = Consumer({"bootstrap.servers": testbed.bootstrap, "group.id": f"chaos-{uuid.uuid4().hex}"})
        for service, group in GROUPS.items():
            testbed.fleet.send(replicas[service], signal.SIGCONT)
            backlog, deadline = lag(admin, consumer, group), time.monotonic() + timeout
            while (left := lag(admin, consumer, group)) >= backlog and time.monotonic() < deadline:
                time.sleep(0.1)
            began, first = time.monotonic(), backlog - left
            while left and time.monotonic() < deadline:
                time.sleep(0.2)
                left = lag(admin, consumer, group)
            took = time.monotonic() - began
            rate = (backlog - first - left) / took if took else 0.0
            click.echo(f"{service}: {backlog - left} of {backlog} orders, {rate:.0f} orders/s "
                       f"(from its first commit; {left} left)")
            testbed.fleet.send(replicas[service], signal.SIGSTOP)
        for replica in replicas.values():
            testbed.fleet.send(replica, signal.SIGCONT)
        consumer.close()
    finally:
        testbed.stop()


if __name__ == "__main__":
    main()
