"""The registry's state, derived from its log by the rule in :mod:`services.registry.records`.

:class:`RegistryState` is the only place the conflict rule is applied. It is thread-safe: one
thread applies records (the log tail), request threads query it; queries return immutable values.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from services.registry import records as rec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    """One ``VERSION_CLAIM`` of a (subject, version) slot."""

    proposal: str
    schema_id: int


@dataclass(frozen=True)
class SubjectVersion:
    """The winning claim of a (subject, version) slot, with its schema text."""

    subject: str
    version: int
    schema_id: int
    schema: str
    deleted: bool
    proposal: str


class RegistryState:
    """Schemas by id, subject versions, soft deletes and compatibility levels.

    Attributes:
        offset: the offset of the last record applied (-1 before any).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._schemas: dict[int, str] = {}
        self._ids: dict[str, int] = {}
        self._slots: dict[tuple[str, int], list[Claim]] = {}
        self._deleted: set[str] = set()
        self._levels: dict[str | None, str] = {}
        self.offset = -1

    def apply(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        """Apply one log record; malformed and foreign records are logged and skipped."""
        with self._lock:
            self.offset = max(self.offset, offset)
            try:
                k, v = rec.decode(key), rec.decode(value)
                if k is not None:
                    self._apply(k, v)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("skipping malformed registry record at offset %d: %s", offset, exc)

    def _apply(self, key: rec.Json, value: rec.Json | None) -> None:
        kind = key.get("keytype")
        if kind == rec.ID_CLAIM:
            if value is None:
                return  # only losing id claims are ever tombstoned
            schema_id, text = int(value["id"]), str(value["schema"])
            if schema_id not in self._schemas and text not in self._ids:
                self._schemas[schema_id], self._ids[text] = text, schema_id
        elif kind == rec.VERSION_CLAIM:
            slot = (str(key["subject"]), int(key["version"]))
            claims = [c for c in self._slots.get(slot, []) if c.proposal != key["proposal"]]
            if value is not None:
                claims.append(Claim(str(key["proposal"]), int(value["id"])))
            if claims:
                self._slots[slot] = claims
            else:
                self._slots.pop(slot, None)
        elif kind == rec.VERSION_DELETED:
            if value is not None and value.get("deleted"):
                self._deleted.add(str(key["proposal"]))
            else:
                self._deleted.discard(str(key["proposal"]))
        elif kind == rec.COMPATIBILITY:
            subject = None if key.get("subject") is None else str(key["subject"])
            if value is None:
                self._levels.pop(subject, None)
            else:
                self._levels[subject] = str(value["compatibilityLevel"])

    # --- queries -------------------------------------------------------------------------

    def schema(self, schema_id: int) -> str | None:
        with self._lock:
            return self._schemas.get(schema_id)

    def id_of(self, canonical: str) -> int | None:
        with self._lock:
            return self._ids.get(canonical)

    def next_id(self) -> int:
        with self._lock:
            return max(self._schemas, default=0) + 1

    def _winner(self, subject: str, version: int) -> SubjectVersion | None:
        claims = self._slots.get((subject, version))
        if not claims:
            return None
        first = claims[0]
        return SubjectVersion(subject, version, first.schema_id, self._schemas.get(first.schema_id, ""),
                              first.proposal in self._deleted, first.proposal)

    def version(self, subject: str, version: int) -> SubjectVersion | None:
        """The winner of the slot, soft-deleted or not; None if the slot is empty."""
        with self._lock:
            return self._winner(subject, version)

    def claims(self, subject: str, version: int) -> list[Claim]:
        """Every claim of the slot still in the log, winner first."""
        with self._lock:
            return list(self._slots.get((subject, version), []))

    def _winners(self, deleted: bool) -> list[SubjectVersion]:
        found = (self._winner(s, v) for (s, v) in self._slots)
        return sorted((w for w in found if w and (deleted or not w.deleted)),
                      key=lambda w: (w.subject, w.version))

    def versions(self, subject: str, *, deleted: bool = False) -> list[SubjectVersion]:
        """The subject's versions, oldest first; soft-deleted ones only when ``deleted``."""
        with self._lock:
            found = (self._winner(s, v) for (s, v) in self._slots if s == subject)
            return sorted((w for w in found if w and (deleted or not w.deleted)), key=lambda w: w.version)

    def subjects(self, *, deleted: bool = False) -> list[str]:
        """Subjects with at least one version (live ones, or soft-deleted too when ``deleted``)."""
        with self._lock:
            return sorted({w.subject for w in self._winners(deleted)})

    def next_version(self, subject: str) -> int:
        """One more than the highest version ever used by the subject (soft-deleted included)."""
        with self._lock:
            return max((v for (s, v) in self._slots if s == subject), default=0) + 1

    def versions_of_id(self, schema_id: int, *, deleted: bool = False) -> list[SubjectVersion]:
        """Every (subject, version) holding the schema id, by subject then version."""
        with self._lock:
            return [w for w in self._winners(deleted) if w.schema_id == schema_id]

    def level(self, subject: str | None) -> str | None:
        """The level set for ``subject`` (None = the global one), or None if none is set."""
        with self._lock:
            return self._levels.get(subject)

    def counts(self) -> tuple[int, int]:
        """(number of schema ids, number of live subjects), for metrics."""
        with self._lock:
            return len(self._schemas), len(self.subjects())
