"""The registry client against httpx.MockTransport: requests, caching, error classification."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from bus.errors import PermanentError, SerializationError, TransientError
from bus.serde import NotFoundError, RegistryClient, RegistryRequestError, UnknownSchemaIdError
from bus.serde.registry_client import CONTENT_TYPE
from bus.settings import RegistrySettings
from tests.unit.serde.fake_registry import FakeRegistry

SCHEMA = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}


def _client(handler: object) -> RegistryClient:
    return RegistryClient("http://registry.test", transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


def test_register_sends_the_schema_as_a_json_string_with_the_registry_content_type() -> None:
    fake = FakeRegistry()
    client = fake.client()
    assert client.register("t-value", SCHEMA) == 1
    request = fake.requests[0]
    assert request.url.path == "/subjects/t-value/versions"
    assert request.headers["Content-Type"] == CONTENT_TYPE
    assert CONTENT_TYPE in request.headers["Accept"]
    assert json.loads(json.loads(request.content)["schema"]) == SCHEMA


def test_ids_and_schemas_are_cached() -> None:
    fake = FakeRegistry()
    client = fake.client()
    assert client.register("t-value", SCHEMA) == client.register("t-value", SCHEMA)
    assert client.schema_by_id(1) == client.schema_by_id(1)
    assert len(fake.requests) == 1  # the id's schema is known from registering it
    other = fake.client()
    other.schema_by_id(1)
    other.schema_by_id(1)
    assert len(fake.requests) == 2


def test_latest_lookup_and_subjects() -> None:
    fake = FakeRegistry()
    client = fake.client()
    client.register("t-value", SCHEMA)
    latest = client.latest("t-value")
    assert (latest.subject, latest.version, latest.id) == ("t-value", 1, 1)
    assert client.lookup("t-value", SCHEMA) == latest
    assert client.lookup("t-value", {**SCHEMA, "name": "Other"}) is None
    assert client.subjects() == ["t-value"]
    with pytest.raises(NotFoundError, match="40401"):
        client.latest("nope-value")


def test_subject_names_are_url_encoded() -> None:
    fake = FakeRegistry()
    fake.client().register("a/b c-value", SCHEMA)
    assert fake.requests[0].url.raw_path == b"/subjects/a%2Fb%20c-value/versions"


def test_compatibility_config_and_check() -> None:
    fake = FakeRegistry()
    client = fake.client()
    assert client.get_compatibility("t-value") is None
    assert client.set_compatibility("t-value", "FULL_TRANSITIVE") == "FULL_TRANSITIVE"
    assert fake.requests[-1].method == "PUT"
    assert client.get_compatibility("t-value") == "FULL_TRANSITIVE"
    client.register("t-value", SCHEMA)
    assert client.check_compatibility("t-value", SCHEMA) == []
    assert client.check_compatibility("t-value", {**SCHEMA, "doc": "BREAK"}) == ["field 'x' was removed"]
    assert fake.requests[-1].url.params["verbose"] == "true"


def test_unknown_schema_id_is_a_permanent_serialization_error() -> None:
    with pytest.raises(UnknownSchemaIdError, match="schema id 99 is unknown") as info:
        FakeRegistry().client().schema_by_id(99)
    assert isinstance(info.value, SerializationError)
    assert info.value.status == 404 and info.value.error_code == 40403


def test_conflict_is_permanent_with_the_registry_message() -> None:
    client = _client(lambda _r: httpx.Response(409, json={"error_code": 409, "message": "field x removed"}))
    with pytest.raises(RegistryRequestError, match="field x removed") as info:
        client.register("t-value", SCHEMA)
    assert isinstance(info.value, PermanentError) and info.value.status == 409


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_throttling_are_transient(status: int) -> None:
    client = _client(lambda _r: httpx.Response(status, headers={"Retry-After": "3"}, text="busy"))
    with pytest.raises(TransientError, match=str(status)) as info:
        client.schema_by_id(1)
    assert info.value.retry_after == 3.0


def test_unreachable_registry_is_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(TransientError, match="unreachable"):
        _client(refuse).register("t-value", SCHEMA)


def test_timeout_is_transient() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(TransientError, match="timed out"):
        _client(slow).latest("t-value")


def test_a_real_closed_port_is_transient() -> None:
    from bus.tools.local.broker import free_port

    with RegistryClient(f"http://127.0.0.1:{free_port()}", timeout=2) as client, \
            pytest.raises(TransientError):
        client.schema_by_id(1)


def test_basic_auth_from_settings() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization", ""))
        return httpx.Response(200, json={"schema": "\"string\""})

    settings = RegistrySettings(url="http://registry.test", basic_auth_user_info="analyst:s3cret:x")
    client = RegistryClient.from_settings(settings, transport=httpx.MockTransport(handler))
    client.schema_by_id(7)
    assert seen == ["Basic " + base64.b64encode(b"analyst:s3cret:x").decode()]
