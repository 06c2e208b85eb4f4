"""Storage of the registry: an append-only log of records plus the state derived from it.

:class:`SchemaStore` implements every write the registry makes on top of one primitive,
:meth:`SchemaStore.append` ("append these records, return once they are acknowledged and applied
to :attr:`SchemaStore.state`"). The Kafka implementation lives in :mod:`services.registry.kafka_store`;
:class:`InMemoryStore` serves unit tests, and several of them sharing one :class:`InMemoryLog`
behave like replicas sharing one topic (each applies the log only when it writes or syncs).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence

from services.registry import records as rec
from services.registry.errors import StoreUnavailable
from services.registry.state import RegistryState, SubjectVersion

MAX_ATTEMPTS = 20
"""Proposals a write may lose to other replicas before it gives up with a store error."""


class SchemaStore(ABC):
    """The registry's storage: writes go through the log, reads through :attr:`state`."""

    def __init__(self) -> None:
        self.state = RegistryState()

    @abstractmethod
    def append(self, records: Sequence[rec.Record]) -> None:
        """Append ``records`` in order; return once acknowledged and applied to the state.

        Raises:
            RegistryError: the log cannot be written or read back (error code 50001).
        """

    def start(self) -> None:
        """Connect and read the log to its end (no-op by default)."""
        return None

    def close(self) -> None:
        """Release connections (no-op by default)."""
        return None

    def ready(self) -> tuple[bool, str]:
        """(True, "") if the state is caught up and the log reachable, else (False, why)."""
        return True, ""

    def assign_id(self, canonical: str) -> int:
        """The id of a schema text, claiming the next free id if the text has none yet."""
        for _ in range(MAX_ATTEMPTS):
            known = self.state.id_of(canonical)
            if known is not None:
                return known
            claim = rec.id_claim(self.state.next_id(), canonical)
            self.append([claim])
            known = self.state.id_of(canonical)
            if known is not None:
                if self.state.schema(int(claim.key["id"])) != canonical:
                    self.append([rec.tombstone(claim)])  # our claim lost: tidy the log
                return known
        raise StoreUnavailable(f"could not assign a schema id after {MAX_ATTEMPTS} attempts (contention)")

    def claim_version(self, subject: str, version: int, schema_id: int) -> bool:
        """Claim (subject, version) for a schema id. True if the slot now holds that id."""
        claim = rec.version_claim(subject, version, schema_id)
        self.append([claim])
        winner = self.state.version(subject, version)
        if winner is not None and winner.proposal == claim.key["proposal"]:
            return True
        self.append([rec.tombstone(claim)])  # lost to an earlier claim of the slot
        return winner is not None and winner.schema_id == schema_id and not winner.deleted

    def soft_delete(self, versions: Sequence[SubjectVersion]) -> None:
        """Mark versions deleted; they stay readable with ``deleted=true`` until purged."""
        self.append([rec.deleted_marker(v.subject, v.version, v.proposal) for v in versions])

    def hard_delete(self, subject: str, versions: Sequence[int]) -> None:
        """Remove versions for good: tombstone every claim of their slots and their markers."""
        doomed: list[rec.Record] = []
        for version in versions:
            for claim in self.state.claims(subject, version):
                doomed.append(rec.tombstone(rec.deleted_marker(subject, version, claim.proposal)))
                doomed.append(rec.tombstone(rec.version_claim(subject, version, claim.schema_id,
                                                              claim.proposal)))
        if doomed:
            self.append(doomed)

    def set_level(self, subject: str | None, level: str | None) -> None:
        """Set (or, with None, remove) the compatibility level of a subject or the global one."""
        self.append([rec.compatibility(subject, level)])


class InMemoryLog:
    """A shared, append-only list of (key, value) byte pairs: a one-partition topic in memory."""

    def __init__(self) -> None:
        self.entries: list[tuple[bytes, bytes | None]] = []
        self.lock = threading.Lock()

    def append(self, records: Sequence[rec.Record]) -> None:
        with self.lock:
            self.entries.extend((r.key_bytes(), r.value_bytes()) for r in records)


class InMemoryStore(SchemaStore):
    """A store on an :class:`InMemoryLog` (a private one by default), for tests and tools."""

    def __init__(self, log: InMemoryLog | None = None) -> None:
        super().__init__()
        self.log = log or InMemoryLog()

    def append(self, records: Sequence[rec.Record]) -> None:
        self.log.append(records)
        self.sync()

    def sync(self) -> None:
        """Apply every log entry this replica has not applied yet."""
        with self.log.lock:
            pending = list(enumerate(self.log.entries))[self.state.offset + 1:]
        for offset, (key, value) in pending:
            self.state.apply(key, value, offset)
