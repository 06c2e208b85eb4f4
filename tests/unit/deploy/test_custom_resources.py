"""Custom resources kubernetes-validate has no schema for: KEDA ScaledObjects, Strimzi
KafkaTopics and the PrometheusRule, checked field by field here."""

from __future__ import annotations

import re
from typing import Any

import yaml

from bus.tools.deploy.components import COMPONENTS, REGISTRY_TOPIC, REPLICATION_FACTOR, LagScaling
from bus.tools.deploy.monitoring import ALERTS_FILE
from bus.topics import load_topics

Objects = dict[str, dict[str, dict[str, Any]]]
DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
KAFKA_TRIGGER_FIELDS = {"bootstrapServers", "consumerGroup", "topic", "lagThreshold",
                        "activationLagThreshold", "offsetResetPolicy", "allowIdleConsumers",
                        "limitToPartitionsWithLag"}


def test_consumer_services_scale_on_lag_with_the_kafka_scaler(by_kind: Objects) -> None:
    lag_scaled = {c.name: c for c in COMPONENTS if isinstance(c.scaling, LagScaling)}
    objects = by_kind["ScaledObject"]
    assert set(objects) == lag_scaled.keys() & set(by_kind["Deployment"]) and objects
    [config] = by_kind["ConfigMap"].values()
    topics = {t.name for t in load_topics()}
    for name, scaled in objects.items():
        assert scaled["apiVersion"] == "keda.sh/v1alpha1"
        spec = scaled["spec"]
        assert spec["scaleTargetRef"]["name"] == name and name in by_kind["Deployment"]
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] > 0
        assert [t["metadata"]["topic"] for t in spec["triggers"]] == list(lag_scaled[name].consumes)
        for trigger in spec["triggers"]:
            meta = trigger["metadata"]
            assert trigger["type"] == "kafka" and set(meta) == KAFKA_TRIGGER_FIELDS
            assert all(isinstance(v, str) for v in meta.values()), "KEDA metadata is map[string]string"
            assert meta["bootstrapServers"] == config["data"]["KAFKA_BOOTSTRAP_SERVERS"]
            assert meta["consumerGroup"] == f"ecombus.{name}" and meta["topic"] in topics
            assert int(meta["lagThreshold"]) > int(meta["activationLagThreshold"]) >= 0
            assert meta["offsetResetPolicy"] == "earliest"  # as the runtime's auto.offset.reset
            assert (meta["allowIdleConsumers"], meta["limitToPartitionsWithLag"]) == ("false", "true")


def test_kafka_topics_are_generated_from_topics_yaml(by_kind: Objects) -> None:
    objects = {o["spec"]["topicName"]: o for o in by_kind["KafkaTopic"].values()}
    specs = load_topics()
    assert set(objects) == {s.name for s in specs} | {REGISTRY_TOPIC}
    for spec in specs:
        topic = objects[spec.name]
        assert topic["apiVersion"] == "kafka.strimzi.io/v1"
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "shop-kafka"  # the overlay's cluster
        assert DNS_1123.match(topic["metadata"]["name"]) and len(topic["metadata"]["name"]) <= 253
        replicas = spec.replication_factor or REPLICATION_FACTOR
        assert (topic["spec"]["partitions"], topic["spec"]["replicas"]) == (spec.partitions, replicas)
        expected = dict(spec.config)
        if replicas >= 3 and expected.get("min.insync.replicas") == "1":
            expected["min.insync.replicas"] = "2"  # as `ecombus topics apply` on a replicated cluster
        assert topic["spec"]["config"] == expected
        assert all(isinstance(v, str) for v in topic["spec"]["config"].values())
    registry = objects[REGISTRY_TOPIC]["spec"]
    assert (registry["partitions"], registry["config"]["cleanup.policy"]) == (1, "compact")


def test_the_prometheus_rule_is_the_tested_alerts_file(by_kind: Objects) -> None:
    [rule] = by_kind["PrometheusRule"].values()
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    alerts = yaml.safe_load(ALERTS_FILE.read_text(encoding="utf-8"))
    assert rule["spec"] == {"groups": alerts["groups"]}
    rules = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    assert len(rules) >= 8
    for r in rules:
        assert r["alert"].startswith("Ecombus") and r["expr"]
        assert r["labels"]["severity"] in {"warning", "critical"}
        assert r["annotations"]["summary"] and r["annotations"]["description"]
