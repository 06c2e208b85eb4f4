"""The registry's HTTP API against an in-memory store: Confluent's routes, codes and shapes."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.registry.app import MEDIA_TYPE, create_app
from services.registry.store import InMemoryStore

HEADERS = {"Content-Type": MEDIA_TYPE}


def order(*extra: dict[str, Any]) -> str:
    fields = [{"name": "order_id", "type": "string"}, *extra]
    return json.dumps({"type": "record", "name": "Order", "namespace": "com.ecombus", "fields": fields})


V1 = order()
V2 = order({"name": "note", "type": ["null", "string"], "default": None})
NO_DEFAULT = order({"name": "email", "type": "string"})


@pytest.fixture
def metrics() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def client(metrics: CollectorRegistry) -> Iterator[TestClient]:
    with TestClient(create_app(InMemoryStore(), metrics)) as test_client:
        yield test_client


def register(client: TestClient, subject: str, schema: str, **extra: Any) -> Any:
    return client.post(f"/subjects/{subject}/versions", json={"schema": schema, **extra}, headers=HEADERS)


def test_register_returns_id_with_the_registry_media_type(client: TestClient) -> None:
    answer = register(client, "orders-value", V1)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == MEDIA_TYPE
    assert answer.json() == {"id": 1}


def test_identical_schema_again_and_whitespace_variants_keep_the_id(client: TestClient) -> None:
    assert register(client, "orders-value", V1).json() == {"id": 1}
    spaced = json.dumps(json.loads(V1), indent=4)
    assert register(client, "orders-value", spaced).json() == {"id": 1}
    assert client.get("/subjects/orders-value/versions").json() == [1]


def test_ids_are_global_and_the_same_text_reuses_its_id_in_another_subject(client: TestClient) -> None:
    assert register(client, "a-value", V1).json() == {"id": 1}
    assert register(client, "b-value", json.dumps({"type": "string"})).json() == {"id": 2}
    assert register(client, "c-value", V1).json() == {"id": 1}
    assert client.get("/subjects").json() == ["a-value", "b-value", "c-value"]
    assert client.get("/schemas/ids/1/versions").json() == [
        {"subject": "a-value", "version": 1}, {"subject": "c-value", "version": 1}]
    assert client.get("/schemas/ids/1/subjects").json() == ["a-value", "c-value"]


def test_plain_application_json_is_accepted(client: TestClient) -> None:
    answer = client.post("/subjects/x/versions", content=json.dumps({"schema": V1}),
                         headers={"Content-Type": "application/json"})
    assert answer.json() == {"id": 1}


def test_get_schema_by_id_accepts_client_query_params(client: TestClient) -> None:
    register(client, "orders-value", V1)
    answer = client.get("/schemas/ids/1", params={"subject": "orders-value", "format": "serialized"})
    assert answer.status_code == 200
    assert json.loads(answer.json()["schema"]) == json.loads(V1)
    assert "schemaType" not in answer.json()
    missing = client.get("/schemas/ids/99")
    assert (missing.status_code, missing.json()["error_code"]) == (404, 40403)


def test_versions_latest_and_raw_schema(client: TestClient) -> None:
    register(client, "orders-value", V1)
    register(client, "orders-value", V2)
    latest = client.get("/subjects/orders-value/versions/latest").json()
    assert latest == {"subject": "orders-value", "version": 2, "id": 2, "schema": latest["schema"]}
    assert client.get("/subjects/orders-value/versions/1").json()["id"] == 1
    assert client.get("/subjects/orders-value/versions/-1").json()["version"] == 2
    assert client.get("/subjects/orders-value/versions/2/schema").json() == json.loads(V2)


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/subjects/nope/versions", 404, 40401),
    ("/subjects/nope/versions/latest", 404, 40401),
    ("/subjects/orders-value/versions/7", 404, 40402),
    ("/subjects/orders-value/versions/zero", 422, 42202),
    ("/subjects/orders-value/versions/0", 422, 42202),
    ("/config/orders-value", 404, 40408),
    ("/no/such/route", 404, 404),
])
def test_read_errors_carry_confluent_codes(client: TestClient, path: str, status: int, code: int) -> None:
    register(client, "orders-value", V1)
    answer = client.get(path)
    assert (answer.status_code, answer.json()["error_code"]) == (status, code)
    assert answer.json()["message"]
    assert answer.headers["content-type"] == MEDIA_TYPE


@pytest.mark.parametrize(("body", "needle"), [
    ({"schema": '{"type": "strin"}'}, "Invalid schema"),
    ({"schema": "{not json"}, "not JSON"),
    ({"schema": V1, "schemaType": "PROTOBUF"}, "only AVRO"),
    ({"schema": V1, "references": [{"name": "x", "subject": "y", "version": 1}]}, "references"),
    ({}, "schema"),
    ({"schema": order({"name": "n", "type": "int", "default": "x"})}, "Default value"),
])
def test_invalid_schemas_are_42201(client: TestClient, body: dict[str, Any], needle: str) -> None:
    answer = client.post("/subjects/s/versions", json=body)
    assert (answer.status_code, answer.json()["error_code"]) == (422, 42201)
    assert needle in answer.json()["message"]


def test_malformed_body_is_400(client: TestClient) -> None:
    answer = client.post("/subjects/s/versions", content=b"{oops", headers=HEADERS)
    assert (answer.status_code, answer.json()["error_code"]) == (400, 400)


def test_lookup_finds_the_version_or_says_40403(client: TestClient) -> None:
    register(client, "orders-value", V1)
    found = client.post("/subjects/orders-value", json={"schema": json.dumps(json.loads(V1), indent=2)})
    assert found.json() == {"subject": "orders-value", "version": 1, "id": 1,
                            "schema": found.json()["schema"]}
    missing = client.post("/subjects/orders-value", json={"schema": V2})
    assert (missing.status_code, missing.json()["error_code"]) == (404, 40403)
    no_subject = client.post("/subjects/other", json={"schema": V1})
    assert no_subject.json()["error_code"] == 40401


def test_incompatible_schema_is_409_and_names_the_field(client: TestClient) -> None:
    register(client, "orders-value", V1)
    answer = register(client, "orders-value", NO_DEFAULT)
    assert answer.status_code == 409
    assert "email" in answer.json()["message"]
    assert client.get("/subjects/orders-value/versions").json() == [1]


def test_compatibility_route_with_verbose_messages(client: TestClient) -> None:
    register(client, "orders-value", V1)
    ok = client.post("/compatibility/subjects/orders-value/versions/latest", json={"schema": V2})
    assert ok.json() == {"is_compatible": True}
    bad = client.post("/compatibility/subjects/orders-value/versions/1?verbose=true",
                      json={"schema": NO_DEFAULT})
    assert bad.json()["is_compatible"] is False
    assert any("email" in m for m in bad.json()["messages"])
    all_versions = client.post("/compatibility/subjects/orders-value/versions", json={"schema": NO_DEFAULT})
    assert all_versions.json() == {"is_compatible": False}
    missing = client.post("/compatibility/subjects/orders-value/versions/9", json={"schema": V2})
    assert missing.json()["error_code"] == 40402


def test_global_and_subject_config(client: TestClient) -> None:
    assert client.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
    assert client.put("/config", json={"compatibility": "full"}).json() == {"compatibility": "FULL"}
    assert client.get("/config").json() == {"compatibilityLevel": "FULL"}
    put = client.put("/config/orders-value", json={"compatibility": "FULL_TRANSITIVE"})
    assert put.json() == {"compatibility": "FULL_TRANSITIVE"}
    assert client.get("/config/orders-value").json() == {"compatibilityLevel": "FULL_TRANSITIVE"}
    assert client.get("/config/other?defaultToGlobal=true").json() == {"compatibilityLevel": "FULL"}
    assert client.delete("/config/orders-value").json() == {"compatibilityLevel": "FULL_TRANSITIVE"}
    assert client.get("/config/orders-value", params={"defaultToGlobal": "true"}).json() == {
        "compatibilityLevel": "FULL"}
    bad = client.put("/config", json={"compatibility": "SIDEWAYS"})
    assert (bad.status_code, bad.json()["error_code"]) == (422, 42203)
    assert client.put("/config", json={"compatibilityLevel": "NONE"}).json() == {"compatibility": "NONE"}
    assert client.delete("/config").json() == {"compatibilityLevel": "NONE"}
    assert client.get("/config").json() == {"compatibilityLevel": "BACKWARD"}


def test_subject_level_overrides_global(client: TestClient) -> None:
    client.put("/config", json={"compatibility": "NONE"})
    register(client, "strict-value", V1)
    register(client, "loose-value", V1)
    client.put("/config/strict-value", json={"compatibility": "FULL_TRANSITIVE"})
    assert register(client, "loose-value", NO_DEFAULT).status_code == 200
    assert register(client, "strict-value", NO_DEFAULT).status_code == 409


def test_soft_then_permanent_delete_of_a_version(client: TestClient) -> None:
    register(client, "orders-value", V1)
    register(client, "orders-value", V2)
    early = client.delete("/subjects/orders-value/versions/1?permanent=true")
    assert (early.status_code, early.json()["error_code"]) == (404, 40407)
    assert client.delete("/subjects/orders-value/versions/1").json() == 1
    assert client.get("/subjects/orders-value/versions").json() == [2]
    assert client.get("/subjects/orders-value/versions?deleted=true").json() == [1, 2]
    assert client.get("/subjects/orders-value/versions/1").json()["error_code"] == 40402
    assert client.get("/subjects/orders-value/versions/1?deleted=true").json()["id"] == 1
    assert client.get("/schemas/ids/1").status_code == 200  # soft-deleted schemas stay readable
    again = client.delete("/subjects/orders-value/versions/1")
    assert again.json()["error_code"] == 40406
    assert client.delete("/subjects/orders-value/versions/1?permanent=true").json() == 1
    assert client.get("/subjects/orders-value/versions?deleted=true").json() == [2]
    assert client.get("/schemas/ids/1").json()["error_code"] == 40403


def test_soft_then_permanent_delete_of_a_subject(client: TestClient) -> None:
    register(client, "orders-value", V1)
    register(client, "orders-value", V2)
    client.put("/config/orders-value", json={"compatibility": "FULL"})
    early = client.delete("/subjects/orders-value?permanent=true")
    assert early.json()["error_code"] == 40405
    assert client.delete("/subjects/orders-value").json() == [1, 2]
    assert client.get("/subjects").json() == []
    assert client.get("/subjects?deleted=true").json() == ["orders-value"]
    assert client.delete("/subjects/orders-value").json()["error_code"] == 40404
    assert client.delete("/subjects/orders-value?permanent=true").json() == [1, 2]
    assert client.get("/subjects?deleted=true").json() == []
    assert client.get("/config/orders-value").json()["error_code"] == 40408
    assert client.delete("/subjects/orders-value").json()["error_code"] == 40401


def test_re_registering_after_soft_delete_makes_a_new_version_with_the_same_id(client: TestClient) -> None:
    register(client, "orders-value", V1)
    client.delete("/subjects/orders-value")
    assert register(client, "orders-value", V1).json() == {"id": 1}
    assert client.get("/subjects/orders-value/versions").json() == [2]


def test_versions_restart_after_a_permanent_subject_delete(client: TestClient) -> None:
    register(client, "orders-value", V1)
    client.delete("/subjects/orders-value")
    client.delete("/subjects/orders-value?permanent=true")
    assert register(client, "orders-value", V2).json() == {"id": 2}
    assert client.get("/subjects/orders-value/versions").json() == [1]


def test_associations_answer_404_so_clients_fall_back(client: TestClient) -> None:
    answer = client.get("/associations/resources/-/orders", params={"resourceType": "topic"})
    assert answer.status_code == 404
    assert answer.json()["error_code"] == 40401
    assert client.post("/associations", json={}).status_code == 404


def test_root_health_types_and_mode(client: TestClient) -> None:
    assert client.get("/").json() == {}
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").json()["status"] == "ready"
    assert client.get("/schemas/types").json() == ["AVRO"]
    assert client.get("/mode").json() == {"mode": "READWRITE"}


def test_metrics_count_requests_by_route_template(client: TestClient, metrics: CollectorRegistry) -> None:
    register(client, "orders-value", V1)
    client.get("/subjects/nope/versions")
    assert metrics.get_sample_value("ecombus_registry_requests_total", {
        "method": "POST", "route": "/subjects/{subject}/versions", "status": "200"}) == 1.0
    assert metrics.get_sample_value("ecombus_registry_requests_total", {
        "method": "GET", "route": "/subjects/{subject}/versions", "status": "404"}) == 1.0
    assert metrics.get_sample_value("ecombus_registry_schemas") == 1.0
    exposition = client.get("/metrics")
    assert exposition.status_code == 200
    assert "ecombus_registry_request_duration_seconds_bucket" in exposition.text


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (package prometheus) not installed")
def test_metrics_pass_promtool(client: TestClient) -> None:
    register(client, "orders-value", V1)
    client.get("/nope")
    exposition = client.get("/metrics").text
    checked = subprocess.run(["promtool", "check", "metrics"], input=exposition, text=True,
                             capture_output=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr
