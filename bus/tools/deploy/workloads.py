"""Kubernetes objects for one :class:`~bus.tools.deploy.components.Component`, as plain dicts.

Per component: a Deployment, a Service when it takes HTTP, a PodDisruptionBudget, its autoscaler
(HPA or KEDA ScaledObject) and, with ``data_dir``, a PersistentVolumeClaim. The Deployment is
where rollouts are made safe:

* ``terminationGracePeriodSeconds`` exceeds the runtime's drain, so SIGTERM finishes the batch in
  hand, waits for the broker's acknowledgements and commits before the kubelet could SIGKILL;
* HTTP pods sleep a few seconds in ``preStop`` so no new webhook reaches a stopping server;
* ``RollingUpdate`` with ``maxUnavailable: 0`` waits for the new pod's ``/readyz`` before the old
  one stops; single-owner components use ``Recreate`` instead (see ``components``);
* a startup probe gives state restores minutes, then ``/healthz`` catches a stuck loop.
"""

from __future__ import annotations

from typing import Any

from bus.tools.deploy.components import (
    CONFIG_MAP,
    IMAGE,
    PRE_STOP_SECONDS,
    SHARED_CONFIG,
    SHARED_SECRET_KEYS,
    SHUTDOWN_DRAIN_SECONDS,
    TERMINATION_GRACE_SECONDS,
    UID,
    Component,
    CpuScaling,
    Fixed,
    LagScaling,
)

Manifest = dict[str, Any]

PART_OF = "ecombus"


def labels(component: Component) -> dict[str, str]:
    """The selector labels of ``component``'s pods."""
    return {"app.kubernetes.io/name": component.name, "app.kubernetes.io/part-of": PART_OF}


def _metadata(component: Component, **extra: Any) -> dict[str, Any]:
    role = "schema-registry" if component.optional else "service"
    return {"name": component.name,
            "labels": {**labels(component), "app.kubernetes.io/component": role}, **extra}


def workloads(component: Component) -> list[Manifest]:
    """Every object ``component`` needs, Deployment first."""
    found = [deployment(component), disruption_budget(component)]
    if component.http_port is not None:
        found.append(service(component))
    if component.data_dir is not None:
        found.append(volume_claim(component))
    if isinstance(component.scaling, CpuScaling):
        found.append(cpu_autoscaler(component, component.scaling))
    if isinstance(component.scaling, LagScaling):
        found.append(scaled_object(component, component.scaling))
    return found


def deployment(component: Component) -> Manifest:
    """The Deployment; ``spec.replicas`` is left to the autoscaler when there is one."""
    spec: dict[str, Any] = {
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": labels(component)},
        "strategy": ({"type": "Recreate"} if component.single_owner else
                     {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}),
        "template": {"metadata": {"labels": labels(component), "annotations": {
            "prometheus.io/scrape": "true", "prometheus.io/port": str(component.admin_port),
            "prometheus.io/path": "/metrics"}}, "spec": _pod_spec(component)},
    }
    if isinstance(component.scaling, Fixed):
        spec = {"replicas": component.scaling.replicas, **spec}
    annotations = {"ecombus.io/scaling": component.note} if component.note else {}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": _metadata(component, annotations=annotations), "spec": spec}


def _pod_spec(component: Component) -> dict[str, Any]:
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    if component.data_dir is not None:
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": f"{component.name}-data"}})
    pod: dict[str, Any] = {
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID, "fsGroup": UID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [_container(component)],
        "volumes": volumes,
    }
    if not component.single_owner and not (isinstance(component.scaling, Fixed)
                                           and component.scaling.replicas == 1):
        pod["topologySpreadConstraints"] = [{
            "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": labels(component)}}]
    return pod


def _container(component: Component) -> dict[str, Any]:
    ports = [{"name": "admin", "containerPort": component.admin_port, "protocol": "TCP"}]
    if component.http_port is not None and component.http_port != component.admin_port:
        ports.append({"name": "http", "containerPort": component.http_port, "protocol": "TCP"})
    probe_port = ports[0]["name"]

    def probe(path: str, period: int, failures: int) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": probe_port}, "periodSeconds": period,
                "timeoutSeconds": 3, "failureThreshold": failures}

    mounts = [{"name": "tmp", "mountPath": "/tmp"}]
    if component.data_dir is not None:
        mounts.append({"name": "data", "mountPath": component.data_dir})
    container: dict[str, Any] = {
        "name": component.name,
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": list(component.command_args),
        "ports": ports,
        "envFrom": [{"configMapRef": {"name": CONFIG_MAP}}],
        "env": _env(component),
        "resources": {"requests": {"cpu": component.resources.cpu, "memory": component.resources.memory},
                      "limits": {"memory": component.resources.memory_limit}},
        "startupProbe": probe("/healthz", 5, 60),
        "livenessProbe": probe("/healthz", 10, 3),
        "readinessProbe": probe("/readyz", 5, 2),
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": mounts,
    }
    if component.http_port is not None:
        container["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(PRE_STOP_SECONDS)]}}}
    return container


def _env(component: Component) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "ECOMBUS_ADMIN_PORT", "value": str(component.admin_port)},
        {"name": "ECOMBUS_SHUTDOWN_TIMEOUT_SECONDS", "value": str(SHUTDOWN_DRAIN_SECONDS)},
        # each replica's name: its exactly-once stage's transactional id (unique per pod)
        {"name": "ECOMBUS_INSTANCE_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    env += [{"name": k, "value": v} for k, v in component.env.items()]
    secrets = [*SHARED_SECRET_KEYS.items(), (component.secret, component.secret_keys)]
    env += [{"name": key, "valueFrom": {"secretKeyRef": {"name": name, "key": key, "optional": True}}}
            for name, keys in secrets for key in keys]
    return env


def service(component: Component) -> Manifest:
    """A ClusterIP Service on the component's HTTP port (named ``http``)."""
    port_name = "admin" if component.http_port == component.admin_port else "http"
    return {"apiVersion": "v1", "kind": "Service", "metadata": _metadata(component), "spec": {
        "selector": labels(component),
        "ports": [{"name": "http", "port": component.http_port, "targetPort": port_name, "protocol": "TCP"}]}}


def disruption_budget(component: Component) -> Manifest:
    """At most one pod evicted at a time; never blocks a node drain (a 1-replica owner may move)."""
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _metadata(component),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels(component)}}}


def volume_claim(component: Component) -> Manifest:
    """The ReadWriteOnce claim holding ``data_dir`` (one owner, so one writer)."""
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {**_metadata(component), "name": f"{component.name}-data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}}


def cpu_autoscaler(component: Component, scaling: CpuScaling) -> Manifest:
    """An ``autoscaling/v2`` HPA on CPU utilisation, slow to scale down."""
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": _metadata(component), "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": component.name},
                "minReplicas": scaling.min_replicas, "maxReplicas": scaling.max_replicas,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                    "type": "Utilization", "averageUtilization": scaling.cpu_utilization}}}],
                "behavior": _behavior()}}


def _behavior() -> dict[str, Any]:
    return {"scaleUp": {"stabilizationWindowSeconds": 0,
                        "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]},
            "scaleDown": {"stabilizationWindowSeconds": 300,
                          "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}]}}


def scaled_object(component: Component, scaling: LagScaling) -> Manifest:
    """A KEDA ScaledObject: one Kafka trigger per consumed topic, HPA bounds and behaviour.

    ``bootstrapServers`` is copied from the ConfigMap by the ``keda-bootstrap`` kustomize
    component, so overlays set the cluster address in one place.
    """
    triggers = [{"type": "kafka", "metadata": {
        "bootstrapServers": SHARED_CONFIG["KAFKA_BOOTSTRAP_SERVERS"],
        "consumerGroup": component.group,
        "topic": topic,
        "lagThreshold": str(scaling.lag_threshold),
        "activationLagThreshold": str(scaling.activation_lag),
        "offsetResetPolicy": "earliest",  # as the runtime's auto.offset.reset
        "allowIdleConsumers": "false",
        "limitToPartitionsWithLag": "true",
    }} for topic in component.consumes]
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": _metadata(component),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": component.name},
                "minReplicaCount": scaling.min_replicas, "maxReplicaCount": scaling.max_replicas,
                "pollingInterval": 15, "cooldownPeriod": 300,
                "fallback": {"failureThreshold": 3, "replicas": scaling.min_replicas},
                "advanced": {"horizontalPodAutoscalerConfig": {"behavior": _behavior()}},
                "triggers": triggers}}
