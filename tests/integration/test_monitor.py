"""Lag against a real broker: a stopped group's lag counts new events and keeps ageing, drops
to 0 on every partition once it caught up; groups with no commits or no members are reported;
the monitor service exports the same figures on /metrics."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from prometheus_client import CollectorRegistry

from bus.assembly import Assembly
from bus.observability.lag import GroupLag, measure_lag
from bus.observability.oldest_message import OldestMessageReader
from bus.settings import KafkaSettings
from bus.tools.cli import main
from services.monitor import SERVICE
from services.monitor.handlers import LagExporter
from services.monitor.settings import MonitorSettings
from services.monitor.wiring import build


def produce(bootstrap: str, topic: str, count: int, transactional: bool = False) -> None:
    config = {"bootstrap.servers": bootstrap, "linger.ms": 5}
    if transactional:
        config["transactional.id"] = f"{topic}.tx"
    producer = Producer(config)
    if transactional:
        producer.init_transactions(30)
        producer.begin_transaction()
    for i in range(count):
        producer.produce(topic, key=f"order-{i}".encode(), value=f'{{"n": {i}}}'.encode())
        producer.poll(0)
    if transactional:
        producer.commit_transaction(30)
    assert producer.flush(30) == 0


def consumer(bootstrap: str, group: str, topic: str) -> Consumer:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    c.subscribe([topic])
    return c


def consume_and_commit(bootstrap: str, group: str, topic: str, count: int) -> None:
    """Consume ``count`` records as a member of ``group``, commit synchronously, leave the group."""
    c = consumer(bootstrap, group, topic)
    seen = 0
    deadline = time.monotonic() + 60
    while seen < count and time.monotonic() < deadline:
        seen += sum(1 for m in c.consume(num_messages=500, timeout=0.5) if m.error() is None)
    assert seen == count
    c.commit(asynchronous=False)
    c.close()


@pytest.fixture
def measure(kafka_bootstrap: str) -> Callable[[str], GroupLag]:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    reader = OldestMessageReader({"bootstrap.servers": kafka_bootstrap}, timeout=10)

    def one(group: str) -> GroupLag:
        report = measure_lag(admin, reader, prefix="ecombus.test-")
        assert not report.failed
        groups = {g.group: g for g in report.groups}
        assert group in groups, f"{group} missing from {sorted(groups)}"
        return groups[group]

    return one


def test_a_stopped_group_lags_by_the_new_events_ageing_until_it_catches_up_again(
    kafka_bootstrap: str, new_topic: Callable[..., str], measure: Callable[[str], GroupLag]
) -> None:
    topic = new_topic("orders", partitions=3)
    group = f"ecombus.test-{uuid.uuid4().hex[:8]}"
    produce(kafka_bootstrap, topic, 30)
    consume_and_commit(kafka_bootstrap, group, topic, 30)

    idle = measure(group)  # caught up, no members any more: reported, 0 everywhere
    assert idle.members == 0
    assert [(p.partition, p.lag, p.lag_seconds) for p in idle.partitions] == [(0, 0, 0.0), (1, 0, 0.0),
                                                                               (2, 0, 0.0)]

    produce(kafka_bootstrap, topic, 1000)  # the consumer is gone: nobody reads these
    first = measure(group)
    assert first.lag == 1000
    time.sleep(1.5)
    second = measure(group)
    assert second.lag == 1000
    oldest_first = max(p.lag_seconds or 0.0 for p in first.partitions)
    oldest_second = max(p.lag_seconds or 0.0 for p in second.partitions)
    assert oldest_first > 0
    assert oldest_second > oldest_first  # a dead consumer's lag keeps rising

    exporter = LagExporter(CollectorRegistry())
    exporter.publish(measure_lag(AdminClient({"bootstrap.servers": kafka_bootstrap}),
                                 OldestMessageReader({"bootstrap.servers": kafka_bootstrap}),
                                 prefix=None, groups=[group]))
    gauges = [exporter.registry.get_sample_value(
        "ecombus_consumergroup_lag", {"group": group, "topic": topic, "partition": str(p)}) for p in range(3)]
    assert sum(g or 0 for g in gauges) == 1000

    cli = CliRunner().invoke(main, ["lag", "--prefix", "", "--group", group, "--json",
                                    "--bootstrap-servers", kafka_bootstrap])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)["groups"][0]["lag"] == 1000

    consume_and_commit(kafka_bootstrap, group, topic, 1000)  # the consumer comes back
    caught_up = measure(group)
    assert [(p.partition, p.lag, p.lag_seconds) for p in caught_up.partitions] == [
        (0, 0, 0.0), (1, 0, 0.0), (2, 0, 0.0)]


def test_a_live_group_that_committed_nothing_is_reported_with_the_whole_topic(
    kafka_bootstrap: str, new_topic: Callable[..., str], measure: Callable[[str], GroupLag]
) -> None:
    topic = new_topic("fresh", partitions=2)
    produce(kafka_bootstrap, topic, 50)
    group = f"ecombus.test-fresh-{uuid.uuid4().hex[:8]}"
    c = consumer(kafka_bootstrap, group, topic)
    try:
        deadline = time.monotonic() + 30
        while not c.assignment() and time.monotonic() < deadline:
            c.poll(0.2)  # join the group; nothing is committed (auto-commit is off)
        assert c.assignment()
        fresh = measure(group)
        assert fresh.members == 1
        assert [(p.committed, p.low) for p in fresh.partitions] == [(None, 0), (None, 0)]
        assert fresh.lag == 50
        assert all(p.lag_seconds is not None and p.lag_seconds >= 0 for p in fresh.partitions)
    finally:
        c.close()


def test_read_committed_group_caught_up_on_a_transactional_topic_shows_at_most_the_marker(
    kafka_bootstrap: str, new_topic: Callable[..., str], measure: Callable[[str], GroupLag]
) -> None:
    topic = new_topic("txn", partitions=1)
    produce(kafka_bootstrap, topic, 20, transactional=True)
    group = f"ecombus.test-txn-{uuid.uuid4().hex[:8]}"
    consume_and_commit(kafka_bootstrap, group, topic, 20)
    (row,) = measure(group).partitions
    assert row.high == 21  # 20 records + the commit marker
    assert (row.lag, row.lag_seconds) == (0, 0.0)  # librdkafka's commit() moved past the marker

    # A consumer that stores offsets per message (last offset + 1) commits 20, before the marker.
    stored = f"ecombus.test-txn-stored-{uuid.uuid4().hex[:8]}"
    c = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": stored})
    c.commit(offsets=[TopicPartition(topic, 0, 20)], asynchronous=False)
    c.close()
    (row,) = measure(stored).partitions
    assert (row.committed, row.lag, row.lag_seconds) == (20, 1, 0.0)  # the documented lag 1, no age


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def test_the_monitor_service_exports_lag_on_its_admin_server(
    kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic("svc", partitions=1)
    prefix = f"ecombus.test-svc-{uuid.uuid4().hex[:8]}"
    group = f"{prefix}.crm-updater"
    produce(kafka_bootstrap, topic, 5)
    consume_and_commit(kafka_bootstrap, group, topic, 5)
    produce(kafka_bootstrap, topic, 7)
    assembly = Assembly(SERVICE, admin=("127.0.0.1", 0))
    build(assembly, MonitorSettings(interval_seconds=0.2, group_prefix=prefix),
          KafkaSettings(bootstrap_servers=kafka_bootstrap))
    stop = threading.Event()
    thread = threading.Thread(target=assembly.run, args=(stop,), daemon=True)
    thread.start()
    try:
        line = f'ecombus_consumergroup_lag{{group="{group}",partition="0",topic="{topic}"}} 7.0'
        deadline = time.monotonic() + 30
        while assembly.admin_server is None or line not in get(assembly.admin_url + "/metrics"):
            assert time.monotonic() < deadline, "the lag never showed up on /metrics"
            time.sleep(0.1)
        text = get(assembly.admin_url + "/metrics")
        assert f'ecombus_consumergroup_members{{group="{group}"}} 0.0' in text
        assert f'ecombus_consumergroup_lag_seconds{{group="{group}",partition="0",topic="{topic}"}}' in text
        if shutil.which("promtool"):  # the live exposition lints clean too (unit test: always)
            lint = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                                  capture_output=True, timeout=60, check=False)
            assert (lint.returncode, lint.stdout + lint.stderr) == (0, b"")
        assert get(assembly.admin_url + "/readyz").startswith('{"status": "ok"')
        assert get(assembly.admin_url + "/healthz").startswith('{"status": "ok"')
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
