"""``ecombus schemas register`` and ``check`` against a real registry (its own log topic)."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner

from bus.contracts import TOPIC_EVENTS, schema_for_topic
from bus.tools.cli import main
from bus.tools.local.registry import RegistryProcess


@pytest.fixture
def fresh_registry(kafka_bootstrap: str) -> Iterator[str]:
    """A registry of its own, so the real subject names of our topics start empty."""
    with RegistryProcess(kafka_bootstrap, f"_schemas.test.cli.{uuid.uuid4().hex[:8]}") as registry:
        yield registry.url


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["schemas", *args])
    return result.exit_code, result.output


def test_register_twice_is_idempotent_and_sets_full_transitive(fresh_registry: str) -> None:
    code, first = _run("register", "--registry-url", fresh_registry)
    assert code == 0, first
    code, second = _run("register", "--registry-url", fresh_registry)
    assert code == 0, second
    assert first == second  # same ids, same versions
    for topic in TOPIC_EVENTS:
        subject = f"{topic}-value"
        line = next(line for line in second.splitlines() if line.startswith(subject + " "))
        assert "version=1 " in line and "FULL_TRANSITIVE" in line
        assert httpx.get(f"{fresh_registry}/subjects/{subject}/versions").json() == [1]
        config = httpx.get(f"{fresh_registry}/config/{subject}").json()
        assert (config.get("compatibilityLevel") or config.get("compatibility")) == "FULL_TRANSITIVE"
    assert f"{len(TOPIC_EVENTS)} subjects registered" in second
    # orders.placed.v1 and orders.review.v1 carry the same schema: one global id
    ids = {line.split()[0]: line.split()[1] for line in second.splitlines() if "-value" in line}
    assert ids["orders.placed.v1-value"] == ids["orders.review.v1-value"]

    code, checked = _run("check", "--registry-url", fresh_registry)
    assert code == 0, checked
    assert checked.count(" ok ") == len(TOPIC_EVENTS)


def test_check_names_the_field_that_breaks_compatibility(fresh_registry: str) -> None:
    subject = "orders.status.v1-value"
    older = copy.deepcopy(schema_for_topic("orders.status.v1"))
    older["fields"].append({"name": "legacy_code", "type": "string", "doc": "required, no default"})
    answer = httpx.post(f"{fresh_registry}/subjects/{subject}/versions", json={"schema": json.dumps(older)},
                        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    assert answer.status_code == 200, answer.text
    httpx.put(f"{fresh_registry}/config/{subject}", json={"compatibility": "FULL_TRANSITIVE"})

    code, output = _run("check", "--registry-url", fresh_registry)
    assert code == 1
    assert "orders.status.v1-value" in output and "INCOMPATIBLE" in output and "legacy_code" in output
    assert "orders.placed.v1-value" in output and "new" in output  # not registered yet: nothing to break

    code, output = _run("register", "--registry-url", fresh_registry)
    assert code == 1
    assert "orders.status.v1-value" in output and "FAILED" in output
    assert f"{len(TOPIC_EVENTS) - 1} subjects registered" in output, "all but the incompatible one"

