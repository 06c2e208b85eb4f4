"""The log's conflict rule: replicas that race agree, and compaction never changes the outcome."""

from __future__ import annotations

import json

from services.registry import records as rec
from services.registry.service import Registry, avro_schema
from services.registry.state import RegistryState
from services.registry.store import InMemoryLog, InMemoryStore

T = avro_schema(json.dumps({"type": "record", "name": "T", "fields": [{"name": "a", "type": "int"}]}))
U = avro_schema(json.dumps({"type": "record", "name": "U", "fields": [{"name": "b", "type": "int"}]}))


def replicas(n: int = 2) -> tuple[InMemoryLog, list[InMemoryStore]]:
    log = InMemoryLog()
    return log, [InMemoryStore(log) for _ in range(n)]


def compacted(log: InMemoryLog) -> RegistryState:
    """Replay what Kafka keeps after compaction: the latest value per key, at its own offset."""
    latest: dict[bytes, tuple[int, bytes | None]] = {}
    for offset, (key, value) in enumerate(log.entries):
        latest[key] = (offset, value)
    state = RegistryState()
    for key, (offset, value) in sorted(latest.items(), key=lambda item: item[1][0]):
        if value is not None:
            state.apply(key, value, offset)
    return state


def snapshot(state: RegistryState) -> object:
    subjects = state.subjects(deleted=True)
    return (
        {i: state.schema(i) for i in range(1, state.next_id())},
        {s: [(v.version, v.schema_id, v.deleted) for v in state.versions(s, deleted=True)] for s in subjects},
        {s: state.level(s) for s in [None, *subjects]},
    )


def test_the_first_id_claim_in_log_order_wins() -> None:
    state = RegistryState()
    claims = [rec.id_claim(1, T), rec.id_claim(1, U), rec.id_claim(2, T), rec.id_claim(2, U)]
    for offset, claim in enumerate(claims):
        state.apply(claim.key_bytes(), claim.value_bytes(), offset)
    assert (state.schema(1), state.schema(2)) == (T, U)
    assert (state.id_of(T), state.id_of(U)) == (1, 2)


def test_the_first_version_claim_of_a_slot_wins_until_it_is_tombstoned() -> None:
    state = RegistryState()
    first, second = rec.version_claim("s", 1, 1), rec.version_claim("s", 1, 2)
    for offset, record in enumerate([rec.id_claim(1, T), rec.id_claim(2, U), first, second]):
        state.apply(record.key_bytes(), record.value_bytes(), offset)
    version = state.version("s", 1)
    assert version is not None and version.schema_id == 1
    state.apply(first.key_bytes(), None, 4)
    version = state.version("s", 1)
    assert version is not None and version.schema_id == 2


def test_stale_replicas_registering_different_schemas_get_distinct_ids_and_versions() -> None:
    _log, (a, b) = replicas()
    ra, rb = Registry(a), Registry(b)
    first = ra.register("s", T)
    second = rb.register("s", U)  # b has not seen a's records: its first proposals lose
    assert (first.schema_id, first.version) == (1, 1)
    assert (second.schema_id, second.version) == (2, 2)
    a.sync()
    assert snapshot(a.state) == snapshot(b.state)


def test_stale_replicas_registering_the_same_schema_agree_on_id_and_version() -> None:
    _log, (a, b) = replicas()
    first = Registry(a).register("s", T)
    second = Registry(b).register("s", T)
    assert (first.schema_id, first.version) == (second.schema_id, second.version) == (1, 1)
    assert Registry(b).versions("s")[-1].version == 1


def test_same_schema_under_two_subjects_from_two_replicas_shares_one_id() -> None:
    _log, (a, b) = replicas()
    assert Registry(a).register("x", T).schema_id == Registry(b).register("y", T).schema_id == 1


def test_interleaved_proposals_resolve_the_same_on_every_replica() -> None:
    log, (a, b, c) = replicas(3)
    # Both propose id 1 and (s, 1) before either reads the log: the lower offset wins.
    log.append([rec.id_claim(1, T), rec.id_claim(1, U)])
    assert b.assign_id(U) == 2
    assert a.claim_version("s", 1, 1) is True
    assert b.claim_version("s", 1, 2) is False
    c.sync()
    assert snapshot(a.state) == snapshot(b.state) == snapshot(c.state)


def test_compaction_keeps_the_outcome_after_races_deletes_and_config() -> None:
    log, (a, b) = replicas()
    ra, rb = Registry(a), Registry(b)
    ra.register("s", T)
    rb.register("s", U)
    rb.register("t", T)
    ra.set_level("s", "NONE")
    ra.set_level("s", "FULL")
    rb.set_level(None, "FORWARD")
    ra.delete_version("s", 1)
    ra.delete_version("s", 1, permanent=True)
    rb.delete_subject("t")
    a.sync()
    b.sync()
    assert snapshot(a.state) == snapshot(b.state) == snapshot(compacted(log))


def test_foreign_and_malformed_records_are_skipped() -> None:
    state = RegistryState()
    state.apply(b'{"keytype":"NOOP","magic":0}', b"{}", 0)
    state.apply(b"not json", b"{}", 1)
    state.apply(b'{"keytype":"ID_CLAIM"}', b'{"nothing": 1}', 2)
    assert state.offset == 2 and state.next_id() == 1
