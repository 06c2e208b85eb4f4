"""The records of the registry's log (the compacted ``_schemas`` topic) and the conflict rule.

Every replica appends *proposals* to the log, reads the log up to its own record, and applies one
deterministic rule, so all replicas (and every restart) derive the same state from the same log.
Keys and values are UTF-8 JSON with sorted keys and no whitespace, so equal keys are equal bytes.

Records (key → value)::

    {"keytype": "ID_CLAIM", "id": N, "proposal": P}
        → {"id": N, "schema": "<canonical Avro text>", "schemaType": "AVRO"}
    {"keytype": "VERSION_CLAIM", "subject": S, "version": V, "proposal": P}
        → {"subject": S, "version": V, "id": N}
    {"keytype": "VERSION_DELETED", "subject": S, "version": V, "proposal": P}
        → {"deleted": true}                      soft delete of the claim P
    {"keytype": "COMPATIBILITY", "subject": S or null}
        → {"compatibilityLevel": "BACKWARD"}     null subject = the global level

``P`` is a fresh UUID per proposal. A null value is a tombstone (Kafka compaction then removes
the key); permanent deletes tombstone every claim of the (subject, version) slot and its
soft-delete markers. Keytypes other than these four (for example Confluent's own) are ignored.

Conflict rule, "first record in log order wins":

- An ``ID_CLAIM`` takes effect only if neither its id nor its schema text is taken yet; a later
  claim of the same id for another text, or of another id for the same text, is ignored. Id
  claims that won are never tombstoned, so ids are never reused.
- The winner of a (subject, version) slot is the first ``VERSION_CLAIM`` of that slot still in
  the log; later claims of the slot are ignored while it stands.

Why compaction cannot change the outcome: a claim key contains its proposal UUID, so it is
written exactly once (then perhaps tombstoned) and compaction, which only keeps the latest
record per key, never reorders claims. Keys written more than once (``VERSION_DELETED``,
``COMPATIBILITY``) mean "the latest value of this key", whatever their position relative to
other keys. So the state a replica builds while tailing equals the state rebuilt from the
compacted log.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

ID_CLAIM = "ID_CLAIM"
VERSION_CLAIM = "VERSION_CLAIM"
VERSION_DELETED = "VERSION_DELETED"
COMPATIBILITY = "COMPATIBILITY"
KEYTYPES = (ID_CLAIM, VERSION_CLAIM, VERSION_DELETED, COMPATIBILITY)

Json = dict[str, Any]


@dataclass(frozen=True)
class Record:
    """One log record: a key and a value (None = tombstone)."""

    key: Json
    value: Json | None

    def key_bytes(self) -> bytes:
        return encode(self.key)

    def value_bytes(self) -> bytes | None:
        return None if self.value is None else encode(self.value)


def encode(obj: Json) -> bytes:
    """Deterministic JSON: equal objects give equal bytes (Kafka compacts on key bytes)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def decode(data: bytes | None) -> Json | None:
    """A JSON object, or None for a tombstone. Raises ValueError on anything else."""
    if data is None:
        return None
    obj = json.loads(data)
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return obj


def new_proposal() -> str:
    return uuid.uuid4().hex


def id_claim(schema_id: int, schema: str, proposal: str | None = None) -> Record:
    key = {"keytype": ID_CLAIM, "id": schema_id, "proposal": proposal or new_proposal()}
    return Record(key, {"id": schema_id, "schema": schema, "schemaType": "AVRO"})


def version_claim(subject: str, version: int, schema_id: int, proposal: str | None = None) -> Record:
    key = {"keytype": VERSION_CLAIM, "subject": subject, "version": version,
           "proposal": proposal or new_proposal()}
    return Record(key, {"subject": subject, "version": version, "id": schema_id})


def deleted_marker(subject: str, version: int, proposal: str) -> Record:
    key = {"keytype": VERSION_DELETED, "subject": subject, "version": version, "proposal": proposal}
    return Record(key, {"deleted": True})


def compatibility(subject: str | None, level: str | None) -> Record:
    """The level of ``subject`` (None = global); ``level`` None is a tombstone (delete)."""
    key = {"keytype": COMPATIBILITY, "subject": subject}
    return Record(key, None if level is None else {"compatibilityLevel": level})


def tombstone(record_or_key: Record | Json) -> Record:
    key = record_or_key.key if isinstance(record_or_key, Record) else record_or_key
    return Record(key, None)
