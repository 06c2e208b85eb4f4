"""Deployment artefacts generated from declarations: Kubernetes manifests, Strimzi topics,
the PrometheusRule and the Grafana dashboard (``python -m bus.tools.deploy``; ``make deploy-render``).

Modules: ``components`` (the table of what runs, with ports, Secrets, scaling), ``workloads``
(Deployment, Service, PDB, HPA, KEDA ScaledObject, PVC for one component), ``kafka_topics``
(Strimzi KafkaTopics from ``deploy/topics.yaml``), ``monitoring`` (PodMonitor, PrometheusRule from
``deploy/prometheus/alerts.yaml``), ``dashboard`` (Grafana JSON), ``series`` (metric names the
code exposes vs. those queries use), ``render`` (files on disk, drift check).
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
"""The source tree (deploy/, schemas/, bus/, services/)."""
