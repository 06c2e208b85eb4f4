"""The journey index: what the bus's topics say about orders, in an embedded SQLite file.

It is a *view*: rebuilt from the topics on start (:class:`JourneyIndex` drops what the file held)
and kept current by the tailer (:mod:`services.console.tailer`), which hands it decoded records
with their positions (:meth:`JourneyIndex.add_many`, one transaction per batch). Nothing in it is
the only copy of anything: the topics are.

One writer, many readers: the tailer writes through the connection that opened the index; every
query runs on a read-only connection of the calling thread (WAL mode, so readers see the last
committed batch and never wait for the writer). The queries are :mod:`services.console.queries`'.

What each topic becomes (topic names come from :class:`Topics`):

* ``bus.audit.v1`` (ProcessingRecord) → ``steps`` (indexed by order id, by correlation id
  (kept only where it differs from the order id), and by position for dead-lettered ones),
  per-second counts in ``flow``, and ``erp_sent`` for a successful router step of an ERP route;
* ``orders.placed.v1`` → ``orders`` (order number, platform id, e-mail) and an ``events`` row;
  ``orders.status.v1``, ``inventory.reservations.v1``, ``shipments.tracking.v1`` → ``events``;
* the intake topics (RawDelivery) → ``received``;
* ``dlq.<service>`` (any value: only key, headers and timestamp are read) → ``dead_letters``;
* any record with a ``ecombus.replayed.from`` header → ``replays`` (the dead letter it replays).

Facts that depend on one another (an order and its ERP step, a dead letter and its replay) are
kept in separate tables and joined when asked, so they may arrive in any order.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from services.console.ingest import Batch, Ingested, Record, Topics
from services.console.queries import IndexQueries

__all__ = ["Ingested", "JourneyIndex", "Record", "Topics"]

SCHEMA = """
CREATE TABLE positions(topic TEXT, partition INTEGER, next_offset INTEGER, records INTEGER,
    last_ms INTEGER, PRIMARY KEY(topic, partition)) WITHOUT ROWID;
CREATE TABLE steps(order_id TEXT, correlation_id TEXT, at_ms INTEGER, service TEXT, handler TEXT,
    route TEXT, step TEXT, outcome TEXT, topic TEXT, partition INTEGER, "offset" INTEGER,
    attempts INTEGER, duration REAL, error_class TEXT, error_message TEXT, dlq_topic TEXT);
CREATE INDEX steps_order ON steps(order_id) WHERE order_id IS NOT NULL;
CREATE INDEX steps_correlation ON steps(correlation_id) WHERE correlation_id IS NOT NULL;
CREATE INDEX steps_dead_lettered ON steps(topic, partition, "offset") WHERE outcome = 'DEAD_LETTERED';
CREATE TABLE flow(second INTEGER, service TEXT, outcome TEXT, count INTEGER,
    PRIMARY KEY(second, service, outcome)) WITHOUT ROWID;
CREATE TABLE orders(order_id TEXT PRIMARY KEY, order_number TEXT, number_key TEXT,
    platform_order_id TEXT, platform TEXT, shop TEXT, email TEXT, email_key TEXT, currency TEXT,
    total TEXT, placed_at_ms INTEGER, correlation_id TEXT) WITHOUT ROWID;
CREATE INDEX orders_number ON orders(number_key);
CREATE INDEX orders_platform_id ON orders(platform_order_id);
CREATE INDEX orders_email ON orders(email_key);
CREATE INDEX orders_placed ON orders(placed_at_ms);
CREATE INDEX orders_correlation ON orders(correlation_id) WHERE correlation_id IS NOT order_id;
CREATE TABLE events(order_id TEXT, at_ms INTEGER, kind TEXT, status TEXT, detail TEXT, source TEXT,
    topic TEXT, partition INTEGER, "offset" INTEGER);
CREATE INDEX events_order ON events(order_id);
CREATE TABLE received(topic TEXT, partition INTEGER, "offset" INTEGER, correlation_id TEXT,
    at_ms INTEGER, channel TEXT, path TEXT, remote_addr TEXT, received_by TEXT, platform_topic TEXT,
    PRIMARY KEY(topic, partition, "offset")) WITHOUT ROWID;
CREATE INDEX received_correlation ON received(correlation_id);
CREATE TABLE dead_letters(topic TEXT, partition INTEGER, "offset" INTEGER, service TEXT,
    original_topic TEXT, original_partition INTEGER, original_offset INTEGER, reason TEXT,
    exception TEXT, message TEXT, handler TEXT, route TEXT, step TEXT, kind TEXT, attempts INTEGER,
    key TEXT, at_ms INTEGER, PRIMARY KEY(topic, partition, "offset")) WITHOUT ROWID;
CREATE INDEX dead_letters_original ON dead_letters(original_topic, original_partition, original_offset);
CREATE INDEX dead_letters_service ON dead_letters(service, reason);
CREATE TABLE replays(topic TEXT, partition INTEGER, "offset" INTEGER, by TEXT, at_ms INTEGER,
    PRIMARY KEY(topic, partition, "offset")) WITHOUT ROWID;
CREATE TABLE erp_sent(order_id TEXT PRIMARY KEY, at_ms INTEGER) WITHOUT ROWID;
CREATE TABLE erp_pending(order_id TEXT PRIMARY KEY, placed_at_ms INTEGER) WITHOUT ROWID;
CREATE INDEX erp_pending_age ON erp_pending(placed_at_ms);
"""
TABLES = ("positions", "steps", "flow", "orders", "events", "received", "dead_letters", "replays",
          "erp_sent", "erp_pending")

WRITES = (  # in this order, so that facts arriving in one batch in any order end up the same
    ("steps", "INSERT INTO steps VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"),
    ("flow", "INSERT INTO flow VALUES (?,?,?,?) ON CONFLICT DO UPDATE SET count = count + excluded.count"),
    ("orders", "INSERT OR IGNORE INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"),
    ("events", "INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)"),
    ("received", "INSERT OR REPLACE INTO received VALUES (?,?,?,?,?,?,?,?,?,?)"),
    ("dead_letters", "INSERT OR REPLACE INTO dead_letters VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"),
    ("replays", "INSERT OR IGNORE INTO replays VALUES (?,?,?,?,?)"),
    ("erp_pending", "INSERT OR IGNORE INTO erp_pending SELECT ?1, ?2 "
                    "WHERE NOT EXISTS (SELECT 1 FROM erp_sent WHERE order_id = ?1)"),
    ("erp_sent", "INSERT OR IGNORE INTO erp_sent VALUES (?,?)"),
    ("erp_done", "DELETE FROM erp_pending WHERE order_id = ?"),
    ("positions", "INSERT INTO positions VALUES (?,?,?,?,?) ON CONFLICT DO UPDATE SET "
                  "next_offset = max(next_offset, excluded.next_offset), "
                  "records = records + excluded.records, last_ms = max(last_ms, excluded.last_ms)"),
)


@dataclass(frozen=True)
class Position:
    """Where the index stands on one partition."""

    topic: str
    partition: int
    next_offset: int
    records: int
    last_ms: int


class JourneyIndex(IndexQueries):
    """The index file at ``path``: opened empty (any earlier content dropped), then fed.

    Args:
        path: the SQLite file (created; its tables are dropped and made anew).
        topics: which topic is which (default: the production names).
        cache_mb: the writer's page cache; readers get a quarter of it each.

    Thread safety: :meth:`add`, :meth:`add_many` and :meth:`mark_replayed` from one thread (the
    tailer); every query from any thread, each on its own read-only connection.
    """

    def __init__(self, path: str | Path, topics: Topics | None = None, cache_mb: int = 64) -> None:
        self.path = Path(path)
        self.topics = topics or Topics()
        self.tables = TABLES
        self._cache_kib = cache_mb * 1024
        self._writer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=OFF", f"cache_size=-{self._cache_kib}",
                       "temp_store=MEMORY"):
            self._writer.execute(f"PRAGMA {pragma}")
        drops = "".join(f"DROP TABLE IF EXISTS {table};" for table in TABLES)
        self._writer.executescript(f"BEGIN; {drops} {SCHEMA} COMMIT;")
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    # -- writing (the tailer's thread) -----------------------------------------------------

    def add(self, topic: str, partition: int, offset: int, timestamp_ms: int, key: bytes | None,
            headers: list[tuple[str, bytes]] | None, value: object) -> None:
        """Index one record (see :meth:`add_many`)."""
        self.add_many([Record(topic, partition, offset, timestamp_ms, key, headers, value)])

    def add_many(self, records: Iterable[Record]) -> Ingested:
        """Index records in one transaction and move each partition's next offset past them.

        ``value`` is the decoded value (a dict, as the Avro decoder returns it). On a
        dead-letter topic only key, headers and timestamp are read (the value may be anything).
        Elsewhere a value that is not a dict (None for a record that could not be decoded), or
        not of its topic's shape, adds nothing but its position, and is counted as skipped.

        Returns:
            Per topic, the records taken and those of them skipped.
        """
        batch = Batch(self.topics)
        for record in records:
            batch.add(record)
        rows = batch.finish()
        with self._transaction():
            for table, sql in WRITES:
                if rows[table]:
                    self._writer.executemany(sql, rows[table])
        return batch.ingested()

    def mark_replayed(self, dlq_topic: str, partition: int, offset: int, by: str, at_ms: int) -> None:
        """Record that the dead letter at this position was replayed (``by`` whom or where to)."""
        with self._transaction():
            self._writer.execute("INSERT OR IGNORE INTO replays VALUES (?,?,?,?,?)",
                                 (dlq_topic, partition, offset, by, at_ms))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._writer.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._writer.execute("ROLLBACK")
            raise
        self._writer.execute("COMMIT")

    # -- reading (any thread) --------------------------------------------------------------

    def reader(self) -> sqlite3.Connection:
        """This thread's read-only connection (opened on first use)."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            connection.execute(f"PRAGMA cache_size=-{self._cache_kib // 4}")
            connection.execute("PRAGMA query_only=ON")
            self._local.connection = connection
            with self._lock:
                self._readers.append(connection)
        return connection

    def positions(self) -> list[Position]:
        """Where the index stands on every partition it has seen a record of."""
        rows = self.reader().execute("SELECT * FROM positions ORDER BY topic, partition").fetchall()
        return [Position(*row) for row in rows]

    def next_offsets(self) -> dict[tuple[str, int], int]:
        """(topic, partition) → the offset to read next."""
        return {(p.topic, p.partition): p.next_offset for p in self.positions()}

    def close(self) -> None:
        """Close the writer and every reader connection."""
        with self._lock:
            for connection in self._readers:
                connection.close()
            self._readers.clear()
        self._writer.close()
