"""The Kubernetes manifests: generated files up to date, the example overlay renders, built-in
kinds validate against the Kubernetes schemas, and the rules that make rollouts safe hold."""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate
import pytest

from bus.observability.admin_server import DEFAULT_ADMIN_PORTS
from bus.runtime.service import RuntimeSettings
from bus.tools.cli.run import available_services
from bus.tools.deploy.components import COMPONENTS, SHUTDOWN_DRAIN_SECONDS, UID
from bus.tools.deploy.render import drift, render

Objects = dict[str, dict[str, dict[str, Any]]]
CUSTOM_KINDS = {"ScaledObject", "KafkaTopic", "PrometheusRule", "PodMonitor"}
BUILT_IN_KINDS = {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler",
                  "PersistentVolumeClaim"}
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
HTTP_SERVICES = {c.name for c in COMPONENTS if c.http_port is not None}
SINGLE_OWNERS = {c.name for c in COMPONENTS if c.single_owner}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    [found] = deployment["spec"]["template"]["spec"]["containers"]
    return found


def env_of(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(deployment).get("env", [])}


def test_generated_files_are_up_to_date() -> None:
    problems = drift(render())
    assert not problems, "run `make deploy-render`: " + "; ".join(problems)


def test_drift_is_reported_when_a_generated_file_is_edited(tmp_path: Any) -> None:
    files = render()
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text, encoding="utf-8")
    assert drift(files, tmp_path) == []
    topics = tmp_path / "deploy/k8s/base/topics.yaml"
    topics.write_text(topics.read_text(encoding="utf-8").replace("partitions: 6", "partitions: 12", 1))
    (tmp_path / "deploy/k8s/base/leftover.yaml").write_text("kind: ConfigMap\n")
    assert drift(files, tmp_path) == ["deploy/k8s/base/topics.yaml: differs from the declarations",
                                      "deploy/k8s/base/leftover.yaml: not generated any more (delete it)"]


def test_the_example_overlay_renders_every_kind(by_kind: Objects) -> None:
    assert set(by_kind) == BUILT_IN_KINDS | CUSTOM_KINDS
    assert {obj["metadata"]["namespace"] for objs in by_kind.values() for obj in objs.values()} == {"ecombus"}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_built_in_kinds_validate_against_the_kubernetes_schemas(rendered: list[dict[str, Any]],
                                                                version: str) -> None:
    validated = set()
    for obj in rendered:
        if obj["kind"] in CUSTOM_KINDS:
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                kubernetes_validate.validate(obj, version, strict=True)
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(map(str, exc.path))
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {where}: {exc.message}")
        validated.add(obj["kind"])
    assert validated == BUILT_IN_KINDS


def test_every_service_has_a_deployment_and_every_deployment_runs_a_real_service(by_kind: Objects) -> None:
    services = set(available_services())
    deployments = by_kind["Deployment"]
    ran = {}
    for name, deployment in deployments.items():
        args = container(deployment)["args"]
        ran[name] = args[1] if args[0] == "run" else " ".join(args[:2])
    assert {n for n, what in ran.items() if what == n} == services
    assert set(ran.values()) == services | {"registry serve"}


def test_pods_run_as_non_root_on_a_read_only_root_with_a_writable_tmp(by_kind: Objects) -> None:
    for name, deployment in by_kind["Deployment"].items():
        pod = deployment["spec"]["template"]["spec"]
        assert (pod["securityContext"]["runAsNonRoot"], pod["securityContext"]["runAsUser"]) == (True, UID)
        security = container(deployment)["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        tmp = next(m for m in container(deployment)["volumeMounts"] if m["mountPath"] == "/tmp")
        assert {"name": tmp["name"], "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"], name
        resources = container(deployment)["resources"]
        assert resources["requests"].keys() == {"cpu", "memory"} and resources["limits"]["memory"], name


def test_sigterm_drain_and_commit_fit_in_the_grace_period(by_kind: Objects) -> None:
    drain = RuntimeSettings().shutdown_timeout_seconds
    assert drain == SHUTDOWN_DRAIN_SECONDS
    for name, deployment in by_kind["Deployment"].items():
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert env_of(deployment)["ECOMBUS_SHUTDOWN_TIMEOUT_SECONDS"]["value"] == str(SHUTDOWN_DRAIN_SECONDS)
        lifecycle = container(deployment).get("lifecycle")
        pause = int(lifecycle["preStop"]["exec"]["command"][1]) if lifecycle else 0
        # the loop drains (≤ drain), then the producer flushes (≤ drain), after the preStop pause
        assert grace > pause + 2 * drain, name


def test_http_services_roll_with_no_unavailable_pod_and_stop_taking_requests_first(by_kind: Objects) -> None:
    for name in HTTP_SERVICES - SINGLE_OWNERS:
        deployment = by_kind["Deployment"][name]
        assert deployment["spec"]["strategy"] == {"type": "RollingUpdate",
                                                  "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
        assert container(deployment)["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
        service = by_kind["Service"][name]
        ports = {p["name"] for p in container(deployment)["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
        assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]


def test_single_owners_run_one_replica_recreated_without_an_autoscaler(by_kind: Objects) -> None:
    assert SINGLE_OWNERS & set(by_kind["Deployment"]) >= {"crm-updater", "router"}
    scaled = {o["spec"]["scaleTargetRef"]["name"]
              for kind in ("ScaledObject", "HorizontalPodAutoscaler") for o in by_kind[kind].values()}
    for name in SINGLE_OWNERS & set(by_kind["Deployment"]):
        deployment = by_kind["Deployment"][name]
        assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
        assert name not in scaled


def test_autoscaled_deployments_leave_replicas_to_the_autoscaler(by_kind: Objects) -> None:
    targets = [o["spec"]["scaleTargetRef"] for kind in ("ScaledObject", "HorizontalPodAutoscaler")
               for o in by_kind[kind].values()]
    assert targets
    for target in targets:
        assert target["kind"] == "Deployment"
        assert "replicas" not in by_kind["Deployment"][target["name"]]["spec"]
    assert len({t["name"] for t in targets}) == len(targets)


def test_probes_and_scraping_use_the_admin_port(by_kind: Objects) -> None:
    for name, deployment in by_kind["Deployment"].items():
        c = container(deployment)
        admin = next(p for p in c["ports"] if p["name"] == "admin")["containerPort"]
        if c["args"][0] == "run":
            assert admin == DEFAULT_ADMIN_PORTS[name]
            assert env_of(deployment)["ECOMBUS_ADMIN_PORT"]["value"] == str(admin)
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
        assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(admin)
    [monitor] = by_kind["PodMonitor"].values()
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "admin" and endpoint["path"] == "/metrics"
    assert {"targetLabel": "job", "replacement": "ecombus"} in endpoint["relabelings"]
    for deployment in by_kind["Deployment"].values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_disruption_budgets_never_block_a_drain_and_select_their_pods(by_kind: Objects) -> None:
    assert set(by_kind["PodDisruptionBudget"]) == set(by_kind["Deployment"])
    for name, budget in by_kind["PodDisruptionBudget"].items():
        assert budget["spec"]["maxUnavailable"] == 1
        assert budget["spec"]["selector"] == by_kind["Deployment"][name]["spec"]["selector"]


def test_secrets_are_referenced_by_name_never_written(by_kind: Objects) -> None:
    secretish = re.compile(r"SECRET|TOKEN|PASSWORD|USER_INFO|USERNAME")
    [config] = by_kind["ConfigMap"].values()
    assert not [k for k in config["data"] if secretish.search(k)]
    for name, deployment in by_kind["Deployment"].items():
        for var, entry in env_of(deployment).items():
            if secretish.search(var):
                assert "value" not in entry and entry["valueFrom"]["secretKeyRef"]["key"] == var, (name, var)
    assert {"SHOPIFY_WEBHOOK_SECRET", "WOOCOMMERCE_WEBHOOK_SECRET", "BIGCOMMERCE_WEBHOOK_SECRET"} <= set(
        env_of(by_kind["Deployment"]["order-capture"]))
    webhooks = env_of(by_kind["Deployment"]["shipping-tracker"])
    reference = webhooks["EASYPOST_WEBHOOK_SECRET"]["valueFrom"]["secretKeyRef"]
    assert reference["name"] == "shipping-tracker-secrets"
    assert "AFTERSHIP_WEBHOOK_SECRET" in webhooks


def test_the_config_map_carries_the_shared_settings(by_kind: Objects) -> None:
    [config] = by_kind["ConfigMap"].values()
    shared = {"KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SECURITY_PROTOCOL", "SCHEMA_REGISTRY_URL"}
    assert shared <= set(config["data"])
    for deployment in by_kind["Deployment"].values():
        assert container(deployment)["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]


def test_cpu_autoscalers_have_sane_bounds(by_kind: Objects) -> None:
    for name, hpa in by_kind["HorizontalPodAutoscaler"].items():
        spec = hpa["spec"]
        assert 1 <= spec["minReplicas"] <= spec["maxReplicas"], name
        assert spec["scaleTargetRef"]["name"] in by_kind["Deployment"]
