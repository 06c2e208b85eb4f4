"""Contracts checked against a previous release: FULL_TRANSITIVE, with the field named."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bus.contracts import SchemaSet, read_schema_files
from bus.contracts.history import compare, previous_release, schemas_at
from bus.errors import ConfigError

FILES = read_schema_files()


def _edited(path: str, edit: object) -> SchemaSet:
    schema = json.loads(FILES[path])
    edit(schema)  # type: ignore[operator]
    return SchemaSet.from_files({**FILES, path: json.dumps(schema)})


def test_identical_schemas_are_compatible() -> None:
    result = compare(SchemaSet.from_files(FILES), SchemaSet.from_files(FILES))
    assert result.ok and len(result.compatible) == 7


def test_deleting_a_field_without_default_fails_and_names_the_field() -> None:
    def drop_reserved(schema: dict) -> None:  # type: ignore[type-arg]
        schema["fields"] = [f for f in schema["fields"] if f["name"] != "reserved"]

    result = compare(_edited("StockLevelChanged.avsc", drop_reserved), SchemaSet.from_files(FILES), "v0.1.0")
    assert not result.ok
    assert list(result.problems) == ["StockLevelChanged"]
    assert "'reserved'" in result.problems["StockLevelChanged"][0]
    assert "v0.1.0" in result.problems["StockLevelChanged"][0]


def test_adding_a_required_field_to_a_shared_type_fails_every_event_using_it() -> None:
    def add_required(schema: dict) -> None:  # type: ignore[type-arg]
        schema["fields"].append({"name": "tenant", "type": "string", "doc": "no default"})

    result = compare(_edited("types/Meta.avsc", add_required), SchemaSet.from_files(FILES))
    assert set(result.problems) == {"CustomerUpserted", "OrderPlaced", "OrderStatusChanged",
                                    "ProcessingRecord", "ShipmentUpdated", "StockLevelChanged",
                                    "StockReservation"}
    assert all("tenant" in p[0] for p in result.problems.values())


def test_adding_an_optional_field_and_an_enum_symbol_is_compatible() -> None:
    order = json.loads(FILES["OrderPlaced.avsc"])
    order["fields"].append({"name": "gift", "type": ["null", "string"], "default": None, "doc": "d"})
    status = json.loads(FILES["types/OrderStatus.avsc"])
    status["symbols"].insert(-1, "ON_HOLD")
    current = SchemaSet.from_files({**FILES, "OrderPlaced.avsc": json.dumps(order),
                                    "types/OrderStatus.avsc": json.dumps(status)})
    assert compare(current, SchemaSet.from_files(FILES)).ok


def test_new_and_removed_events() -> None:
    fewer = {k: v for k, v in FILES.items() if k != "StockReservation.avsc"}
    added = compare(SchemaSet.from_files(FILES), SchemaSet.from_files(fewer))
    assert added.ok and added.added == ["StockReservation"]
    removed = compare(SchemaSet.from_files(fewer), SchemaSet.from_files(FILES))
    assert "StockReservation" in removed.problems


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.email", "t@example.com")
    _git(path, "config", "user.name", "t")
    return path


def _commit(repo: Path, message: str) -> None:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "--allow-empty", "-m", message)


def test_previous_release_order_tag_then_previous_commit_then_none(repo: Path) -> None:
    assert previous_release(repo) is None  # not even a commit
    _commit(repo, "one")
    assert previous_release(repo) is None  # no tag, no origin/main, no HEAD~1
    _commit(repo, "two")
    assert previous_release(repo) == ("HEAD~1", "previous commit")
    _git(repo, "tag", "v0.9.0", "HEAD~1")
    _git(repo, "tag", "v0.10.0")
    assert previous_release(repo) == ("v0.10.0", "newest v* tag")


def test_previous_release_is_the_merge_base_with_origin_main(repo: Path, tmp_path: Path) -> None:
    _commit(repo, "one")
    _commit(repo, "two")
    base = _git(repo, "rev-parse", "HEAD")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    _git(clone, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "--allow-empty",
         "-m", "three")
    assert previous_release(clone) == (base, "merge-base with origin/main")


def test_schemas_at_a_ref_read_from_git(repo: Path) -> None:
    _commit(repo, "no schemas yet")
    assert schemas_at("HEAD", repo) is None
    shutil.copytree(Path(__file__).resolve().parents[3] / "schemas", repo / "schemas")
    _commit(repo, "schemas")
    at_head = schemas_at("HEAD", repo)
    assert at_head is not None and at_head.events == SchemaSet.from_files(FILES).events
    with pytest.raises(ConfigError, match="not a commit"):
        schemas_at("no-such-ref", repo)
