"""Contracts checked against a previous release: FULL_TRANSITIVE, with the field named."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bus.contracts import SchemaSet, read_schema_files
from bus.contracts.history import compare, previous_releases, schemas_at
from bus.errors import ConfigError

FILES = read_schema_files()


def _edited(path: str, edit: object) -> SchemaSet:
    schema = json.loads(FILES[path])
    edit(schema)  # type: ignore[operator]
    return SchemaSet.from_files({**FILES, path: json.dumps(schema)})


def test_identical_schemas_are_compatible() -> None:
    result = compare(SchemaSet.from_files(FILES), [("v1", SchemaSet.from_files(FILES))])
    assert result.ok and len(result.compatible) == len(SchemaSet.from_files(FILES).events) == 12


def test_deleting_a_field_without_default_fails_and_names_the_field() -> None:
    def drop_reserved(schema: dict) -> None:  # type: ignore[type-arg]
        schema["fields"] = [f for f in schema["fields"] if f["name"] != "reserved"]

    result = compare(_edited("StockLevelChanged.avsc", drop_reserved),
                     [("v0.1.0", SchemaSet.from_files(FILES))])
    assert not result.ok
    assert list(result.problems) == ["StockLevelChanged"]
    assert "'reserved'" in result.problems["StockLevelChanged"][0]
    assert "v0.1.0" in result.problems["StockLevelChanged"][0]


def test_adding_a_required_field_to_a_shared_type_fails_every_event_using_it() -> None:
    def add_required(schema: dict) -> None:  # type: ignore[type-arg]
        schema["fields"].append({"name": "tenant", "type": "string", "doc": "no default"})

    result = compare(_edited("types/Meta.avsc", add_required), [("v1", SchemaSet.from_files(FILES))])
    assert set(result.problems) == {"CustomerUpserted", "OrderPlaced", "OrderStatusChanged",
                                    "ProcessingRecord", "RawDelivery", "ShipmentUpdated", "StockLevelChanged",
                                    "StockReservation", "OrderCancelled", "OrderRefunded", "ReturnUpdated",
                                    "DisputeUpdated"}
    assert all("tenant" in p[0] for p in result.problems.values())


def test_adding_an_optional_field_and_an_enum_symbol_is_compatible() -> None:
    order = json.loads(FILES["OrderPlaced.avsc"])
    order["fields"].append({"name": "gift", "type": ["null", "string"], "default": None, "doc": "d"})
    status = json.loads(FILES["types/OrderStatus.avsc"])
    status["symbols"].insert(-1, "ON_HOLD")
    current = SchemaSet.from_files({**FILES, "OrderPlaced.avsc": json.dumps(order),
                                    "types/OrderStatus.avsc": json.dumps(status)})
    assert compare(current, [("v1", SchemaSet.from_files(FILES))]).ok


def test_new_and_removed_events() -> None:
    fewer = {k: v for k, v in FILES.items() if k != "StockReservation.avsc"}
    added = compare(SchemaSet.from_files(FILES), [("v1", SchemaSet.from_files(fewer))])
    assert added.ok and added.added == ["StockReservation"]
    removed = compare(SchemaSet.from_files(fewer), [("v1", SchemaSet.from_files(FILES))])
    assert "StockReservation" in removed.problems


def test_compatible_with_the_newest_but_not_an_older_version_fails_naming_the_older() -> None:
    def with_gift(schema: dict) -> None:  # type: ignore[type-arg]
        schema["fields"].append({"name": "gift", "type": "string", "default": "", "doc": "d"})

    def gift_required(schema: dict) -> None:  # type: ignore[type-arg]
        schema["fields"].append({"name": "gift", "type": "string", "doc": "d"})

    # v2 added 'gift' with a default; dropping the default stays compatible with v2 (it has the
    # field) but not with v1, whose records lack it: FULL_TRANSITIVE catches what v2 alone hides
    v1 = SchemaSet.from_files(FILES)
    v2 = _edited("OrderPlaced.avsc", with_gift)
    current = _edited("OrderPlaced.avsc", gift_required)
    assert compare(current, [("v2", v2)]).ok
    result = compare(current, [("v2", v2), ("v1", v1)])
    assert list(result.problems) == ["OrderPlaced"]
    assert "v1" in result.problems["OrderPlaced"][0] and "gift" in result.problems["OrderPlaced"][0]


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


def test_earlier_releases_are_every_tag_else_every_commit_changing_schemas(repo: Path) -> None:
    assert previous_releases(repo)[0] == []  # not even a commit
    _commit(repo, "no schemas")
    assert previous_releases(repo)[0] == []
    (repo / "schemas").mkdir()
    (repo / "schemas" / "A.avsc").write_text("{}")
    _commit(repo, "schemas 1")
    first = _git(repo, "rev-parse", "HEAD")
    _commit(repo, "unrelated")
    (repo / "schemas" / "A.avsc").write_text("{ }")
    _commit(repo, "schemas 2")
    second = _git(repo, "rev-parse", "HEAD")
    assert previous_releases(repo) == ([second, first], "every commit that changed schemas/")
    _git(repo, "tag", "v0.9.0", first)
    _git(repo, "tag", "v0.10.0")
    assert previous_releases(repo) == (["v0.10.0", "v0.9.0"], "every v* tag")


def test_schemas_at_a_ref_read_from_git(repo: Path) -> None:
    _commit(repo, "no schemas yet")
    assert schemas_at("HEAD", repo) is None
    shutil.copytree(Path(__file__).resolve().parents[3] / "schemas", repo / "schemas")
    _commit(repo, "schemas")
    at_head = schemas_at("HEAD", repo)
    assert at_head is not None and at_head.events == SchemaSet.from_files(FILES).events
    with pytest.raises(ConfigError, match="not a commit"):
        schemas_at("no-such-ref", repo)
