"""DedupeState's own logic without a broker: ownership, restore from the changelog (TTL horizon,
tombstones, other partitions), marks per attempt / per transaction / committed, aborts, revokes,
expiry. Its two Kafka reads on assignment (committed offsets, the changelog) are replaced by
``restored`` (tests/unit/webhooks/fakes.py); the restore against a broker is an integration test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from bus.runtime.dedupe_state import EXPIRY_INTERVAL_SECONDS, DedupeState
from bus.runtime.handlers import Output
from tests.unit.runtime.fakes import UNREACHABLE_KAFKA
from tests.unit.webhooks.fakes import changelog_record, restored

INPUT, CHANGELOG, TTL = "intake.storefronts.v1", "order-capture.intake.changelog", 3600.0
T0 = 1_749_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(tmp_path: Path, clock: Clock) -> Iterator[DedupeState]:
    dedupe = DedupeState(UNREACHABLE_KAFKA.client_config(), INPUT, CHANGELOG, ttl=TTL, folder=tmp_path,
                         clock=clock)
    yield dedupe
    dedupe.close()


def _commit(state: DedupeState, partition: int, *keys: str) -> list[Output]:
    """One message handled successfully in a transaction that commits."""
    state.attempt_started()
    outputs = [state.mark(partition, key) for key in keys]
    state.message_done()
    state.committed()
    return outputs


def test_marking_needs_the_partition_assigned(state: DedupeState) -> None:
    with pytest.raises(RuntimeError, match=r"intake.storefronts.v1\[0\] is not assigned"):
        state.mark(0, "shopify:s:evt-1")
    restored(state, [0])
    assert state.mark(0, "shopify:s:evt-1").partition == 0


def test_a_mark_is_the_changelog_record_of_its_input_partition(state: DedupeState, clock: Clock) -> None:
    restored(state, [3])
    clock.now = T0 + 1.5
    assert state.mark(3, "shopify:s:evt-1") == Output(
        CHANGELOG, str(int((T0 + 1.5) * 1000)).encode(), b"shopify:s:evt-1", [], 3)


def test_restore_keeps_the_assigned_partitions_keys_within_the_ttl(state: DedupeState) -> None:
    restored(state, [0, 2], [
        changelog_record(0, "fresh", T0 - 60),
        changelog_record(0, "expired", T0 - TTL - 1),
        changelog_record(0, "forgotten", None),              # a tombstone
        changelog_record(1, "not-mine", T0 - 60),             # a partition this replica does not own
        changelog_record(2, "fresh-2", T0 - TTL + 1),
    ])
    assert [state.seen(0, "fresh"), state.seen(2, "fresh-2")] == [True, True]
    assert [state.seen(0, "expired"), state.seen(0, "forgotten"), state.seen(1, "not-mine")] == [
        False, False, False]
    assert state.seen(2, "fresh") is False, "keys are per partition"
    assert len(state) == 2


def test_restoring_a_partition_again_replaces_what_was_kept(state: DedupeState) -> None:
    restored(state, [0], [changelog_record(0, "old-owner-key", T0)])
    _commit(state, 0, "mine")
    restored(state, [0], [changelog_record(0, "the-changelog-now", T0)])
    assert (state.seen(0, "mine"), state.seen(0, "old-owner-key"), state.seen(0, "the-changelog-now")) == (
        False, False, True)


def test_marks_are_seen_at_once_kept_when_the_message_is_done_and_stored_on_commit(
        state: DedupeState) -> None:
    restored(state, [0])
    state.attempt_started()
    state.mark(0, "a")
    assert state.seen(0, "a"), "a second key of the same attempt sees it"
    state.message_done()
    assert state.seen(0, "a") and len(state) == 0, "in the open transaction only"
    state.committed()
    assert state.seen(0, "a") and len(state) == 1


def test_a_failed_attempts_marks_are_forgotten(state: DedupeState) -> None:
    restored(state, [0])
    state.attempt_started()
    state.mark(0, "a")        # then the attempt failed (to be retried or dead-lettered)
    state.attempt_started()   # the retry starts afresh
    assert not state.seen(0, "a")
    state.mark(0, "b")
    state.message_done()
    state.attempt_started()   # the next message's attempt, which fails...
    state.mark(0, "c")
    state.committed()         # ...and the transaction commits without it
    assert (state.seen(0, "a"), state.seen(0, "b"), state.seen(0, "c")) == (False, True, False)


def test_an_aborted_transaction_forgets_its_marks(state: DedupeState) -> None:
    restored(state, [0])
    _commit(state, 0, "kept")
    state.attempt_started()
    state.mark(0, "lost")
    state.message_done()
    state.aborted()
    assert (state.seen(0, "kept"), state.seen(0, "lost")) == (True, False)
    assert len(state) == 1


def test_revoked_partitions_are_forgotten_with_their_pending_marks(state: DedupeState) -> None:
    restored(state, [0, 1])
    _commit(state, 0, "p0")
    _commit(state, 1, "p1")
    state.attempt_started()
    state.mark(0, "pending-0")
    state.mark(1, "pending-1")
    state.message_done()
    state.revoked([TopicPartition(INPUT, 0), TopicPartition("another.topic", 1)])
    assert (state.seen(0, "p0"), state.seen(0, "pending-0")) == (False, False)
    assert (state.seen(1, "p1"), state.seen(1, "pending-1")) == (True, True), "only the input's partition 0"
    with pytest.raises(RuntimeError, match="not assigned"):
        state.mark(0, "again")
    state.committed()
    assert len(state) == 2 and not state.seen(0, "pending-0")


def test_keys_expire_after_the_ttl_and_are_deleted_once_a_minute(state: DedupeState, clock: Clock) -> None:
    restored(state, [0])
    _commit(state, 0, "old")
    clock.now = T0 + TTL - 1
    _commit(state, 0, "young")
    assert state.seen(0, "old")
    clock.now = T0 + TTL + 1
    assert (state.seen(0, "old"), state.seen(0, "young")) == (False, True), "ignored past the TTL"
    assert len(state) == 2, "deleted at the next expiry pass only"
    clock.now = T0 + TTL + EXPIRY_INTERVAL_SECONDS + 1
    state.committed()
    assert len(state) == 1 and state.seen(0, "young")


def test_the_changelog_is_compacted_and_forgets_by_the_ttl(state: DedupeState) -> None:
    spec = state.topic_spec(6)
    assert (spec.name, spec.partitions) == (CHANGELOG, 6)
    assert spec.config == {"cleanup.policy": "compact,delete", "retention.ms": str(int(TTL * 1000))}


def test_its_own_temporary_folder_is_removed_on_close_a_given_one_is_kept(tmp_path: Path) -> None:
    own = DedupeState(UNREACHABLE_KAFKA.client_config(), INPUT, CHANGELOG, ttl=TTL)
    assert own.folder.is_dir()
    own.close()
    assert not own.folder.exists()
    given = DedupeState(UNREACHABLE_KAFKA.client_config(), INPUT, CHANGELOG, ttl=TTL, folder=tmp_path / "s")
    given.close()
    assert (tmp_path / "s" / f"{CHANGELOG}.sqlite").exists()
