"""Prometheus Operator objects: a PodMonitor for every ecombus pod and the PrometheusRule.

The rule groups are ``deploy/prometheus/alerts.yaml`` verbatim (the file ``promtool`` checks
and unit-tests), so the PrometheusRule cannot drift from what was tested. The PodMonitor sets
``job="ecombus"`` and a ``component`` label on every target, which ``EcombusTargetDown`` uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bus.tools.deploy import REPO_ROOT
from bus.tools.deploy.workloads import PART_OF, Manifest

ALERTS_FILE = REPO_ROOT / "deploy" / "prometheus" / "alerts.yaml"
JOB = "ecombus"


def alert_groups(path: Path = ALERTS_FILE) -> list[dict[str, Any]]:
    """The rule groups of the alerts file."""
    groups: list[dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    return groups


def alert_expressions(path: Path = ALERTS_FILE) -> list[str]:
    """Every rule's PromQL expression."""
    return [rule["expr"] for group in alert_groups(path) for rule in group["rules"]]


def pod_monitor() -> Manifest:
    """Scrapes the ``admin`` port of every pod labelled ``app.kubernetes.io/part-of: ecombus``."""
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
            "metadata": {"name": JOB, "labels": {"app.kubernetes.io/part-of": PART_OF}},
            "spec": {"selector": {"matchLabels": {"app.kubernetes.io/part-of": PART_OF}},
                     "podMetricsEndpoints": [{
                         "port": "admin", "path": "/metrics", "interval": "30s",
                         "relabelings": [
                             {"targetLabel": "job", "replacement": JOB},
                             {"sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
                              "targetLabel": "component"}]}]}}


def prometheus_rule(path: Path = ALERTS_FILE) -> Manifest:
    """The alerts as a ``PrometheusRule`` (``monitoring.coreos.com/v1``)."""
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": JOB, "labels": {"app.kubernetes.io/part-of": PART_OF,
                                                 "role": "alert-rules"}},
            "spec": {"groups": alert_groups(path)}}
