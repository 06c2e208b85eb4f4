"""The broker (and registry) a benchmark runs against, started here when none is named.

``KAFKA_BOOTSTRAP_SERVERS`` / ``SCHEMA_REGISTRY_URL`` name existing ones; otherwise a broker is
started from the cached Maven jars in a temp dir and an ``ecombus registry serve`` process beside
it, both stopped when the block ends. Every arm of a benchmark runs on the same one.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from bus.tools.local.broker import LocalBroker, free_port
from bus.tools.local.registry import RegistryProcess
from bus.topics import TopicSpec, ensure_topics


@dataclass
class BenchCluster:
    bootstrap: str
    registry_url: str | None
    _watcher: Consumer | None = field(default=None, repr=False)

    def end_offsets(self, topic: str) -> int:
        """Sum of the high watermarks of ``topic`` (one long-lived client, cheap to poll);
        0 while a new topic's leaders are still being elected."""
        if self._watcher is None:
            self._watcher = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "bench.watch"})
        partitions = self._watcher.list_topics(topic, timeout=30).topics[topic].partitions
        try:
            return sum(self._watcher.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
                       for p in partitions)
        except KafkaException as exc:
            if exc.args[0].retriable() or exc.args[0].code() == KafkaError.NOT_LEADER_FOR_PARTITION:
                return 0
            raise

    def committed(self, topic: str, group: str) -> int:
        """Sum of the offsets ``group`` committed on ``topic`` (0 where it committed nothing)."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group,
                             "enable.auto.commit": False})
        try:
            partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
            found = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=30)
            return sum(max(tp.offset, 0) for tp in found)
        finally:
            consumer.close()

    def new_topic(self, base: str, partitions: int = 3) -> str:
        """Create a uniquely named topic and return its name."""
        name = f"bench.{base}.{uuid.uuid4().hex[:8]}"
        ensure_topics({"bootstrap.servers": self.bootstrap},
                      [TopicSpec(name=name, partitions=partitions, replication_factor=1)], timeout=30)
        return name


def say(line: str) -> None:
    print(f"  {line}", flush=True)


@contextmanager
def bench_cluster(registry: bool = True) -> Iterator[BenchCluster]:
    """A broker (and a registry when asked) for the duration of the block."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    broker = None
    if not bootstrap:
        broker = LocalBroker(Path(tempfile.mkdtemp(prefix="ecombus-bench-")), port=free_port(),
                             controller_port=free_port(), progress=say)
        bootstrap = broker.start().bootstrap_servers
    registry_url = os.environ.get("SCHEMA_REGISTRY_URL") if registry else None
    process = None
    cluster: BenchCluster | None = None
    if registry and not registry_url:
        process = RegistryProcess(bootstrap, f"_schemas.bench.{uuid.uuid4().hex[:6]}")
        registry_url = process.start()
        say(f"registry at {registry_url}")
    try:
        cluster = BenchCluster(bootstrap, registry_url)
        yield cluster
    finally:
        if cluster is not None and cluster._watcher is not None:
            cluster._watcher.close()
        if process is not None:
            process.stop()
        if broker is not None:
            broker.stop()
