"""The dedupe keys an exactly-once stage handled, owned partition by partition.

An exactly-once stage (:class:`~bus.runtime.service.Stage`) interprets each record of its input
once per dedupe key, however often the outside world delivered it. What it handled is kept here
and in a changelog topic with as many partitions as the input: the mark for a key read from input
partition *p* goes to changelog partition *p*, produced in the same transaction as the stage's
outputs and its consumed offsets. So exactly one of these holds after any crash: the outputs,
the marks and the offsets all committed, or none of them did.

Ownership follows the consumer group. When partitions are assigned (:meth:`assigned`, from the
rebalance callback, before any of their records is handled) their committed offsets are fetched
first (under ``read_committed`` the broker answers only once no transaction of a former owner
is pending on them), then their changelog partitions are read to the end into the local store;
so the state read back matches the committed input positions exactly. Revoked partitions are
dropped.

Memory stays bounded whatever the history: the keys live in a SQLite file (a private temporary
folder by default; its page cache, not the data, is in memory), marks older than ``ttl`` are
ignored and deleted once a minute, and the changelog forgets them by retention
(``cleanup.policy=compact,delete``, ``retention.ms`` = the TTL).

Within a transaction, a handler's marks are kept per attempt (:meth:`attempt_started` forgets
those of a failed attempt), join the transaction's when the message is done, and reach the store
only when the transaction committed (:meth:`aborted` forgets them).
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from bus.errors import ConfigError
from bus.runtime.handlers import Output
from bus.runtime.table import partitions_of, read_to_end
from bus.settings import ClientConfig
from bus.topics import TopicSpec, ensure_topics

log = logging.getLogger(__name__)

EXPIRY_INTERVAL_SECONDS = 60.0

Where = tuple[int, str]
"""(input partition, dedupe key)."""


class PendingMarks:
    """Marks not committed yet: those of the attempt in hand, and those of the messages of the
    transaction in hand that were handled (see the module docstring)."""

    def __init__(self) -> None:
        self._attempt: dict[Where, float] = {}
        self._transaction: dict[Where, float] = {}

    def add(self, where: Where, at: float) -> None:
        self._attempt[where] = at

    def __contains__(self, where: object) -> bool:
        return where in self._attempt or where in self._transaction

    def attempt_started(self) -> None:
        """A new attempt: the previous one's marks (a failed attempt, a dead letter) are dropped."""
        self._attempt.clear()

    def message_done(self) -> None:
        """The attempt succeeded: its marks join the transaction's."""
        self._transaction.update(self._attempt)
        self._attempt.clear()

    def take(self) -> dict[Where, float]:
        """The transaction committed: its marks, handed over (nothing stays pending)."""
        done, self._transaction = self._transaction, {}
        self._attempt.clear()
        return done

    def aborted(self) -> None:
        self._attempt.clear()
        self._transaction.clear()

    def forget(self, partitions: set[int]) -> None:
        """Drop the marks of partitions this replica no longer owns."""
        for pending in (self._attempt, self._transaction):
            for where in [w for w in pending if w[0] in partitions]:
                del pending[where]


class DedupeState:
    """Dedupe keys per input partition, restored from ``changelog`` on assignment.

    Args:
        client_config: Kafka client settings (the changelog is read with them).
        input_topic: the stage's input; only its partitions are kept.
        changelog: the compacted changelog topic (same partition count as ``input_topic``).
        ttl: seconds a key is remembered (also the changelog's retention).
        folder: where the SQLite file goes (default: a new temporary folder, removed by
            :meth:`close`).
        restore_timeout: seconds one assignment may take to restore (else TransientError, and the
            loop stops rather than run on a partial set).
        clock: wall clock (seconds).
    """

    def __init__(self, client_config: ClientConfig, input_topic: str, changelog: str, *, ttl: float,
                 folder: Path | None = None, restore_timeout: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.client_config, self.input_topic, self.changelog = client_config, input_topic, changelog
        self.ttl, self.restore_timeout, self._clock = ttl, restore_timeout, clock
        self._own_folder = folder is None
        self.folder = Path(tempfile.mkdtemp(prefix="ecombus-dedupe-")) if folder is None else folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.folder / f"{changelog}.sqlite", check_same_thread=False,
                                   isolation_level=None)
        self._db.executescript("""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = OFF;
            PRAGMA cache_size = -8192;
            CREATE TABLE IF NOT EXISTS seen (partition INTEGER, key TEXT, at REAL,
                                             PRIMARY KEY (partition, key)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS seen_at ON seen (at);
            DELETE FROM seen;
        """)
        self._pending = PendingMarks()
        self._owned: set[int] = set()
        self._next_expiry = 0.0

    # -- setup ------------------------------------------------------------------------------------

    def topic_spec(self, partitions: int) -> TopicSpec:
        """The changelog's declaration (``deploy/topics.yaml`` has the same)."""
        return TopicSpec(name=self.changelog, partitions=partitions,
                         config={"cleanup.policy": "compact,delete",
                                 "retention.ms": str(int(self.ttl * 1000))})

    def ensure_changelog(self) -> None:
        """Create the changelog when missing, as many partitions as the input.

        Raises:
            ConfigError: the input topic is missing, or the changelog exists with another partition
                count (a mark would then land where the next owner never reads it).
        """
        consumer = Consumer({**self.client_config, "group.id": f"{self.changelog}.setup"})
        try:
            partitions = len(partitions_of(consumer, self.input_topic))
            ensure_topics(self.client_config, [self.topic_spec(partitions)])
            deadline = time.monotonic() + self.restore_timeout
            while True:  # a topic just created may take a moment to appear in the metadata
                try:
                    found = len(partitions_of(consumer, self.changelog))
                    break
                except ConfigError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        finally:
            consumer.close()
        if found != partitions:
            raise ConfigError(f"{self.changelog} has {found} partitions but {self.input_topic} has "
                              f"{partitions}: they must match (recreate the changelog with {partitions})")

    # -- ownership (PartitionState) ---------------------------------------------------------------

    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Restore the given partitions of the input (see the module docstring).

        Raises:
            TransientError: the committed offsets or the changelog were not read in time.
        """
        mine = sorted(p.partition for p in partitions if p.topic == self.input_topic)
        if not mine:
            return
        started = time.monotonic()
        consumer.committed([TopicPartition(self.input_topic, p) for p in mine], timeout=self.restore_timeout)
        horizon = self._clock() - self.ttl
        rows = []
        for msg in read_to_end(self.client_config, self.changelog, self.restore_timeout,
                               starts=dict.fromkeys(mine, -2)):
            value, key = msg.value(), msg.key()
            if value is None or key is None:
                continue
            at = int(value) / 1000.0
            if at >= horizon:
                rows.append((msg.partition(), key.decode(), at))
        self._db.execute("BEGIN")
        self._db.executemany("DELETE FROM seen WHERE partition = ?", [(p,) for p in mine])
        self._db.executemany("INSERT OR REPLACE INTO seen VALUES (?, ?, ?)", rows)
        self._db.execute("COMMIT")
        self._owned.update(mine)
        log.info("%s: restored %d dedupe keys of partitions %s in %.1fs", self.changelog, len(rows),
                 mine, time.monotonic() - started)

    def revoked(self, partitions: list[TopicPartition]) -> None:
        """Forget the given partitions (their next owner restores them)."""
        gone = [p.partition for p in partitions if p.topic == self.input_topic]
        self._db.executemany("DELETE FROM seen WHERE partition = ?", [(p,) for p in gone])
        self._owned.difference_update(gone)
        self._pending.forget(set(gone))

    def attempt_started(self) -> None:
        self._pending.attempt_started()

    def message_done(self) -> None:
        self._pending.message_done()

    def committed(self) -> None:
        done = self._pending.take()
        if done:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO seen VALUES (?, ?, ?)",
                                 [(p, k, at) for (p, k), at in done.items()])
            self._db.execute("COMMIT")
        now = self._clock()
        if now >= self._next_expiry:
            self._db.execute("DELETE FROM seen WHERE at < ?", (now - self.ttl,))
            self._next_expiry = now + EXPIRY_INTERVAL_SECONDS

    def aborted(self) -> None:
        self._pending.aborted()

    # -- what handlers use ------------------------------------------------------------------------

    def seen(self, partition: int, key: str) -> bool:
        """True when ``key`` was handled within the TTL (committed, or earlier in this transaction)."""
        where = (partition, key)
        if where in self._pending:
            return True
        row = self._db.execute("SELECT at FROM seen WHERE partition = ? AND key = ?", where).fetchone()
        return row is not None and row[0] >= self._clock() - self.ttl

    def mark(self, partition: int, key: str) -> Output:
        """Remember ``key`` as handled from input ``partition``; returns its changelog record,
        which the handler must emit (it commits with the outputs)."""
        if partition not in self._owned:
            raise RuntimeError(f"{self.input_topic}[{partition}] is not assigned to this replica")
        now = self._clock()
        self._pending.add((partition, key), now)
        return Output(self.changelog, str(int(now * 1000)).encode(), key.encode(), [], partition)

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM seen").fetchone()[0])

    def close(self) -> None:
        """Close the store (and remove its folder when it made it)."""
        self._db.close()
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)
