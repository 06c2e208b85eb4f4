"""What the registry does, with Confluent Schema Registry's semantics and error codes.

:class:`Registry` sits between the HTTP routes (:mod:`services.registry.app`) and the storage
(:mod:`services.registry.store`). Registrations in one process are serialised by a lock; between
replicas the log's conflict rule decides, and a registration that lost a race is re-checked
against the new state and retried.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from avro.schema import Schema

from bus.contracts.avro_schema import canonical_text, parse
from bus.contracts.compatibility import DEFAULT_LEVEL, check_level, incompatibilities
from services.registry import errors
from services.registry.state import SubjectVersion
from services.registry.store import MAX_ATTEMPTS, SchemaStore

MAX_VERSION = 2**31 - 1


@lru_cache(maxsize=1024)
def _parsed(canonical: str) -> Schema:
    return parse(canonical)


def parse_version(version: str | int) -> int | None:
    """A version number, or None for ``latest`` / ``-1``. Raises InvalidVersion (42202)."""
    text = str(version).strip()
    if text.lower() == "latest" or text == "-1":
        return None
    if text.isdigit() and 1 <= int(text) <= MAX_VERSION:
        return int(text)
    raise errors.InvalidVersion(
        f"The specified version '{version}' is not a valid version id. "
        f'Allowed values are between [1, {MAX_VERSION}] and the string "latest"')


def avro_schema(schema: Any, schema_type: str | None = None, references: Sequence[Any] | None = None) -> str:
    """Validate a request's schema and return its canonical text.

    Raises:
        InvalidSchema: missing, not a string, not AVRO, with references, or not valid Avro.
    """
    if schema_type not in (None, "AVRO"):
        raise errors.InvalidSchema(f"Invalid schema type {schema_type!r}: this registry supports only AVRO")
    if references:
        raise errors.InvalidSchema("Invalid schema: schema references are not supported by this registry")
    if not isinstance(schema, str) or not schema.strip():
        raise errors.InvalidSchema("Invalid schema: the request needs a non-empty \"schema\" string")
    return canonical_text(schema)


class Registry:
    """Subjects, versions, ids and compatibility levels over a :class:`SchemaStore`."""

    def __init__(self, store: SchemaStore) -> None:
        self.store = store
        self.state = store.state
        self._writes = threading.Lock()

    # --- reads ---------------------------------------------------------------------------

    def schema(self, schema_id: int) -> str:
        text = self.state.schema(schema_id)
        if text is None or not self.state.versions_of_id(schema_id, deleted=True):
            raise errors.SchemaNotFound(f"Schema {schema_id} not found")
        return text

    def versions_of_id(self, schema_id: int, deleted: bool = False) -> list[SubjectVersion]:
        self.schema(schema_id)
        return self.state.versions_of_id(schema_id, deleted=deleted)

    def versions(self, subject: str, deleted: bool = False) -> list[SubjectVersion]:
        """The subject's versions, oldest first. Raises SubjectNotFound if it has none."""
        found = self.state.versions(subject, deleted=deleted)
        if not found:
            raise errors.SubjectNotFound(f"Subject '{subject}' not found.")
        return found

    def version(self, subject: str, version: str | int, deleted: bool = False) -> SubjectVersion:
        """One version (``latest`` = the newest live one). Raises 40401, 40402 or 42202."""
        number = parse_version(version)
        existing = self.versions(subject, deleted=True)
        if number is None:
            live = [v for v in existing if deleted or not v.deleted]
            if not live:
                raise errors.SubjectNotFound(f"Subject '{subject}' not found.")
            return live[-1]
        found = self.state.version(subject, number)
        if found is None or (found.deleted and not deleted):
            raise errors.VersionNotFound(f"Version {number} not found.")
        return found

    def lookup(self, subject: str, canonical: str, deleted: bool = False) -> SubjectVersion:
        """The version of ``subject`` holding this schema. Raises 40401 or 40403."""
        for candidate in reversed(self.versions(subject, deleted=deleted)):
            if candidate.schema == canonical:
                return candidate
        raise errors.SchemaNotFound("Schema not found")

    def level(self, subject: str | None) -> str:
        """The level in force for ``subject``: its own, else the global one, else BACKWARD."""
        return (subject is not None and self.state.level(subject)) or self.state.level(None) or DEFAULT_LEVEL

    def subject_level(self, subject: str, default_to_global: bool = False) -> str:
        own = self.state.level(subject)
        if own is None and not default_to_global:
            raise errors.SubjectConfigNotFound(
                f"Subject '{subject}' does not have subject-level compatibility configured")
        return own or self.level(None)

    def problems(self, subject: str, canonical: str, version: str | int | None = None) -> list[str]:
        """Why ``canonical`` may not follow ``version`` (None/latest: the subject's level decides)."""
        number = None if version is None else parse_version(version)
        if number is None:
            previous = self.state.versions(subject)
            if version is not None and not previous and not self.state.versions(subject, deleted=True):
                raise errors.SubjectNotFound(f"Subject '{subject}' not found.")
        else:
            previous = [self.version(subject, number)]
        level = self.level(subject)
        if number is not None:
            level = level.replace("_TRANSITIVE", "")
        return incompatibilities(_parsed(canonical), [_parsed(v.schema) for v in previous], level,
                                 labels=[f"version {v.version}" for v in previous])

    # --- writes --------------------------------------------------------------------------

    def register(self, subject: str, canonical: str) -> SubjectVersion:
        """Register a schema under a subject, or return the live version that already holds it.

        Raises:
            IncompatibleSchema: it breaks the subject's compatibility level (HTTP 409).
            RegistryError: the store failed (50001); StoreUnavailable when it lost too many races.
        """
        with self._writes:
            for _ in range(MAX_ATTEMPTS):
                existing = self._live_version_of(subject, canonical)
                if existing is not None:
                    return existing
                problems = self.problems(subject, canonical)
                if problems:
                    raise errors.IncompatibleSchema(
                        f'Schema being registered is incompatible with an earlier schema for subject '
                        f'"{subject}" (compatibility {self.level(subject)}): ' + "; ".join(problems),
                        problems)
                schema_id = self.store.assign_id(canonical)
                existing = self._live_version_of(subject, canonical)  # assign_id may have caught up
                if existing is not None:
                    return existing
                version = self.state.next_version(subject)
                if self.store.claim_version(subject, version, schema_id):
                    winner = self.state.version(subject, version)
                    if winner is not None:
                        return winner
        raise errors.StoreUnavailable(f"could not register under '{subject}' after {MAX_ATTEMPTS} attempts")

    def _live_version_of(self, subject: str, canonical: str) -> SubjectVersion | None:
        for existing in reversed(self.state.versions(subject)):
            if existing.schema == canonical:
                return existing
        return None

    def delete_version(self, subject: str, version: str | int, permanent: bool = False) -> int:
        """Soft-delete a version, or purge a soft-deleted one. Returns the version number."""
        with self._writes:
            explicit = parse_version(version) is not None
            target = self.version(subject, version, deleted=permanent or explicit)
            if permanent:
                if not target.deleted:
                    raise errors.VersionNotSoftDeleted(
                        f"Subject '{subject}' Version {target.version} was not deleted first before "
                        "being permanently deleted")
                self.store.hard_delete(subject, [target.version])
            else:
                if target.deleted:
                    raise errors.VersionSoftDeleted(
                        f"Subject '{subject}' Version {target.version} was soft deleted. "
                        "Set permanent=true to delete permanently")
                self.store.soft_delete([target])
            return target.version

    def delete_subject(self, subject: str, permanent: bool = False) -> list[int]:
        """Soft-delete every live version, or purge a soft-deleted subject. Returns the versions."""
        with self._writes:
            every = self.versions(subject, deleted=True)
            live = [v for v in every if not v.deleted]
            if permanent:
                if live:
                    raise errors.SubjectNotSoftDeleted(
                        f"Subject '{subject}' was not deleted first before being permanently deleted")
                self.store.hard_delete(subject, [v.version for v in every])
                if self.state.level(subject) is not None:
                    self.store.set_level(subject, None)
                return [v.version for v in every]
            if not live:
                raise errors.SubjectSoftDeleted(
                    f"Subject '{subject}' was soft deleted. Set permanent=true to delete permanently")
            self.store.soft_delete(live)
            return [v.version for v in live]

    def set_level(self, subject: str | None, level: Any) -> str:
        """Set the compatibility level of a subject (None = global). Raises 42203 if unknown."""
        if not isinstance(level, str):
            raise errors.InvalidCompatibilityLevel("Invalid compatibility level: expected a string")
        checked = check_level(level)
        with self._writes:
            self.store.set_level(subject, checked)
        return checked

    def delete_level(self, subject: str) -> str:
        """Remove a subject's own level; returns it. Raises 40408 if it had none."""
        with self._writes:
            own = self.subject_level(subject)
            self.store.set_level(subject, None)
            return own

    def delete_global_level(self) -> str:
        """Remove the global level (back to BACKWARD); returns the level that was in force."""
        with self._writes:
            old = self.level(None)
            self.store.set_level(None, None)
            return old
