"""Strimzi ``KafkaTopic`` resources generated from ``deploy/topics.yaml``.

The topics file stays the single declaration of every topic: ``ecombus topics apply`` reads it
against a bare cluster, and these resources carry the same partitions, replication factor and
config to a Strimzi Topic Operator. Where the file leaves the replication factor to the cluster,
:data:`~bus.tools.deploy.components.REPLICATION_FACTOR` is used, and ``min.insync.replicas`` is raised
from 1 to 2 on replicated topics exactly as :func:`bus.topics.apply` does, so ``acks=all`` means
two copies.
"""

from __future__ import annotations

import re
from pathlib import Path

from bus.tools.deploy.components import REGISTRY_TOPIC, REPLICATION_FACTOR, STRIMZI_CLUSTER
from bus.tools.deploy.workloads import PART_OF, Manifest
from bus.topics import DEFAULT_TOPICS_FILE, TopicSpec, load_topics

_NOT_DNS = re.compile(r"[^a-z0-9.-]+")


def resource_name(topic: str) -> str:
    """A DNS-1123 name for ``topic`` (the real name always goes in ``spec.topicName``)."""
    return _NOT_DNS.sub("-", topic.lower()).strip(".-")


def topic_config(spec: TopicSpec, replicas: int) -> dict[str, str]:
    """The topic's config as the cluster should hold it with ``replicas`` copies."""
    config = dict(spec.config)
    if replicas >= 3 and config.get("min.insync.replicas") == "1":
        config["min.insync.replicas"] = "2"
    return config


def kafka_topic(spec: TopicSpec, cluster: str = STRIMZI_CLUSTER) -> Manifest:
    """One KafkaTopic (``kafka.strimzi.io/v1``) for ``spec``."""
    replicas = spec.replication_factor or REPLICATION_FACTOR
    return {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaTopic",
            "metadata": {"name": resource_name(spec.name),
                         "labels": {"strimzi.io/cluster": cluster, "app.kubernetes.io/part-of": PART_OF}},
            "spec": {"topicName": spec.name, "partitions": spec.partitions, "replicas": replicas,
                     "config": topic_config(spec, replicas)}}


def kafka_topics(path: Path = DEFAULT_TOPICS_FILE) -> list[Manifest]:
    """A KafkaTopic for every topic of the topics file, in the file's order."""
    return [kafka_topic(spec) for spec in load_topics(path)]


def registry_topic() -> Manifest:
    """The embedded schema registry's log: one partition, compacted, never deleted."""
    spec = TopicSpec(name=REGISTRY_TOPIC, partitions=1, config={"cleanup.policy": "compact"})
    return kafka_topic(spec)
