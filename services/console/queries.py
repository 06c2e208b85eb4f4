"""What the console's pages ask the journey index, each answered on the caller's own connection.

:class:`IndexQueries` is the reading half of :class:`~services.console.index.JourneyIndex`: every
method runs a few indexed lookups on the calling thread's read-only connection, so any number of
web threads may ask while the tailer writes. Times are epoch milliseconds; ages are seconds.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bus.ops.dlq import DeadLetterInfo as DeadLetter
from services.console import journey as j
from services.console.ingest import Topics

_STEP = ('order_id, correlation_id, at_ms, service, handler, route, step, outcome, topic, partition, '
         '"offset", error_class, error_message, dlq_topic')
_PENDING = ('NOT EXISTS (SELECT 1 FROM replays r WHERE r.topic = d.topic AND r.partition = d.partition '
            'AND r."offset" = d."offset")')
_ORDER_OF_DEAD_LETTER = (
    'coalesce((SELECT s.order_id FROM steps s WHERE s.topic = d.original_topic AND s.partition = '
    'd.original_partition AND s."offset" = d.original_offset AND s.outcome = \'DEAD_LETTERED\' '
    'AND s.order_id IS NOT NULL LIMIT 1), (SELECT v.correlation_id FROM received v WHERE v.topic = '
    'd.original_topic AND v.partition = d.original_partition AND v."offset" = d.original_offset))')
_DEAD_LETTER = (f'd.topic, d.partition, d."offset", d.service, d.original_topic, d.original_partition, '
                f'd.original_offset, d.reason, d.exception, d.message, d.handler, d.route, d.step, d.kind, '
                f'd.attempts, d.key, d.at_ms, {_ORDER_OF_DEAD_LETTER}, r.by, r.at_ms, r.topic IS NOT NULL')
_REPLAY_JOIN = ('LEFT JOIN replays r ON r.topic = d.topic AND r.partition = d.partition '
                'AND r."offset" = d."offset"')
_APPEND_ONLY = frozenset({"steps", "events"})
_RECEIVED = 'topic, partition, "offset", at_ms, channel, path, remote_addr, received_by, platform_topic'
_ORDER_STEPS = (f"SELECT {_STEP} FROM steps WHERE order_id = ?1 UNION ALL SELECT {_STEP} FROM steps "
                "WHERE correlation_id = ?1 AND correlation_id IS NOT NULL AND order_id IS NOT ?1")


@dataclass(frozen=True)
class OrderHit:
    """An order found by :meth:`IndexQueries.search`; fields of OrderPlaced are None until it is placed."""

    order_id: str
    order_number: str | None
    platform_order_id: str | None
    platform: str | None
    shop: str | None
    email: str | None
    total: str | None
    placed_at_ms: int | None
    last_step: str | None
    last_outcome: str | None
    last_at_ms: int | None
    dead_lettered: bool
    status: str | None = None
    """The order's latest status on orders.status.v1 (RESERVED, SHIPPED, DELIVERED...), if any."""


@dataclass(frozen=True)
class DeadLetterGroup:
    """Pending dead letters of one service with one reason (as ``ecombus dlq list`` groups them)."""

    service: str
    reason: str
    count: int
    oldest_pending_ms: int
    oldest_age_seconds: float


@dataclass(frozen=True)
class ErpGap:
    """Orders placed but not yet in the ERP (no successful router step of an ERP route): how many,
    the oldest one's age, the oldest ones' ids; unpacks as ``count, oldest_age_seconds, order_ids``."""

    count: int
    oldest_age_seconds: float | None
    order_ids: list[str]

    def __iter__(self) -> Iterator[Any]:
        return iter((self.count, self.oldest_age_seconds, self.order_ids))


Rates = dict[str, dict[int, dict[str, int]]]
"""service → bucket start (epoch ms) → audit outcome (OK, DEAD_LETTERED...) → records."""


@dataclass(frozen=True)
class IndexStats(Mapping[str, int]):
    """Rows per table (``stats["steps"]``); beside them, per topic, the records indexed and the
    newest record's timestamp."""

    tables: dict[str, int]
    records: dict[str, int] = field(default_factory=dict)
    last_ms: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, table: str) -> int:
        return self.tables[table]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)


class IndexQueries:
    """The queries; a subclass provides :meth:`reader`, :attr:`topics` and :attr:`tables`."""

    topics: Topics
    tables: tuple[str, ...]

    def reader(self) -> sqlite3.Connection:
        raise NotImplementedError

    def search(self, text: str, limit: int = 50) -> list[OrderHit]:
        """Orders matching ``text`` exactly: an order id, a correlation id, a storefront order
        number (``1042`` or ``#1042``), a platform order id or a customer e-mail (any case)."""
        db, wanted = self.reader(), text.strip()
        if not wanted:
            return []
        found: list[str] = []
        queries: list[tuple[str, Sequence[object]]] = [
            ("SELECT order_id FROM orders WHERE order_id = ?1", (wanted,)),
            ("SELECT order_id FROM steps WHERE order_id = ?1", (wanted,)),
            ("SELECT order_id FROM orders WHERE correlation_id = ?1 AND correlation_id IS NOT order_id",
             (wanted,)),
            ("SELECT DISTINCT order_id FROM steps WHERE correlation_id = ?1 AND correlation_id IS NOT NULL "
             "AND order_id IS NOT NULL", (wanted,)),
            ("SELECT order_id FROM orders WHERE number_key = ?1 OR platform_order_id = ?2",
             (wanted.lstrip("#"), wanted)),
        ]
        if "@" in wanted:
            queries.append(("SELECT order_id FROM orders WHERE email_key = ?1 ORDER BY placed_at_ms DESC",
                            (wanted.casefold(),)))
        for sql, args in queries:
            for (order_id,) in db.execute(f"{sql} LIMIT {max(1, int(limit))}", args):
                if order_id not in found:
                    found.append(order_id)
        received = db.execute("SELECT 1 FROM received WHERE correlation_id = ? LIMIT 1", (wanted,)).fetchone()
        if not found and received:
            found.append(wanted)  # received, never interpreted: the identity is the order id
        return [self._hit(db, order_id) for order_id in found[:limit]]

    def latest(self, limit: int = 25) -> list[OrderHit]:
        """The orders placed last, newest first (what the journeys page shows before a search)."""
        db = self.reader()
        rows = db.execute("SELECT order_id FROM orders ORDER BY placed_at_ms DESC LIMIT ?", (max(1, limit),))
        return [self._hit(db, order_id) for (order_id,) in rows.fetchall()]

    def order(self, order_id: str) -> OrderHit | None:
        """The order as :meth:`search` shows it, or None when the index knows nothing of it."""
        hits = [h for h in self.search(order_id, limit=1) if h.order_id == order_id]
        return hits[0] if hits else None

    def journey(self, order_id: str) -> j.Journey | None:
        """Every step of the order, oldest first (None when the index knows nothing of it)."""
        db = self.reader()
        steps = self._steps(db, order_id)
        processing = [self._processing(db, row) for row in steps]
        rows = db.execute('SELECT at_ms, kind, status, detail, source, topic, partition, "offset" '
                          "FROM events WHERE order_id = ?", (order_id,))
        events = [j.Event(at, kind, status, detail, source, f"{t}/{p}/{o}")
                  for at, kind, status, detail, source, t, p, o in rows]
        received = {row[:3]: row for row in db.execute(
            f"SELECT {_RECEIVED} FROM received WHERE correlation_id = ?", (order_id,))}
        for row in steps:
            if row[8] in self.topics.intake and (row[8], row[9], row[10]) not in received:
                found = db.execute(f'SELECT {_RECEIVED} FROM received WHERE topic = ? AND partition = ? AND '
                                   f'"offset" = ?', (row[8], row[9], row[10])).fetchone()
                if found:
                    received[found[:3]] = found
        deliveries = [j.Received(at, channel, path, remote, by, ptopic, f"{t}/{p}/{o}")
                      for t, p, o, at, channel, path, remote, by, ptopic in received.values()]
        if not (processing or events or deliveries):
            return None
        return j.build(order_id, deliveries, events, processing)

    def dead_letter_summary(self, now_ms: int | None = None) -> list[DeadLetterGroup]:
        """Pending dead letters per (service, reason), most first."""
        now = _now(now_ms)
        rows = self.reader().execute(
            f"SELECT d.service, d.reason, count(*), min(d.at_ms) FROM dead_letters d WHERE {_PENDING} "
            "GROUP BY d.service, d.reason ORDER BY count(*) DESC, d.service, d.reason").fetchall()
        return [DeadLetterGroup(s, r, n, oldest, max(0.0, (now - oldest) / 1000)) for s, r, n, oldest in rows]

    def dead_letters(self, service: str | None = None, reason: str | None = None, pending_only: bool = True,
                     limit: int = 100, offset: int = 0) -> list[DeadLetter]:
        """Dead letters, oldest first, filtered by service and exact reason."""
        where, args = ["1"], []
        if service is not None:
            where.append("d.service = ?")
            args.append(service)
        if reason is not None:
            where.append("d.reason = ?")
            args.append(reason)
        if pending_only:
            where.append("r.topic IS NULL")
        rows = self.reader().execute(
            f"SELECT {_DEAD_LETTER} FROM dead_letters d {_REPLAY_JOIN} WHERE {' AND '.join(where)} "
            f'ORDER BY d.at_ms, d.topic, d.partition, d."offset" LIMIT ? OFFSET ?', [*args, limit, offset])
        return [DeadLetter(*row) for row in rows]

    def dead_letter(self, topic: str, partition: int, offset: int) -> DeadLetter | None:
        """The dead letter at this position, or None."""
        row = self.reader().execute(
            f'SELECT {_DEAD_LETTER} FROM dead_letters d {_REPLAY_JOIN} WHERE d.topic = ? AND d.partition = ? '
            f'AND d."offset" = ?', (topic, partition, offset)).fetchone()
        return DeadLetter(*row) if row else None

    def erp_gap(self, now_ms: int | None = None, sample: int = 10) -> ErpGap:
        """Orders placed but not yet in the ERP: how many, the oldest one's age, the oldest ids."""
        db = self.reader()
        count, oldest = db.execute("SELECT count(*), min(placed_at_ms) FROM erp_pending").fetchone()
        ids = [r[0] for r in db.execute("SELECT order_id FROM erp_pending ORDER BY placed_at_ms LIMIT ?",
                                        (sample,))]
        age = None if oldest is None else max(0.0, (_now(now_ms) - oldest) / 1000)
        return ErpGap(count, age, ids)

    def service_rates(self, since_ms: int, bucket_seconds: int = 60) -> Rates:
        """Audit outcomes per service and time bucket, from the bucket holding ``since_ms`` on.

        Every outcome a service records is a message in, ``OK`` one out, ``DEAD_LETTERED`` and
        ``FAILED`` are failures (:data:`~services.console.journey.FAILED_OUTCOMES`). Buckets start at
        multiples of ``bucket_seconds`` (epoch ms); the audit record's ``meta.occurred_at`` dates it.
        """
        size = max(1, int(bucket_seconds))
        rates: Rates = {}
        for service, bucket, outcome, count in self.reader().execute(
                "SELECT service, (second / ?1) * ?1, outcome, sum(count) FROM flow WHERE second >= ?2 "
                "GROUP BY 1, 2, 3", (size, since_ms // 1000 // size * size)):
            rates.setdefault(service, {}).setdefault(bucket * 1000, {})[outcome] = count
        return rates

    def stats(self) -> IndexStats:
        """Rows per table, and per topic the records indexed and the newest timestamp."""
        db = self.reader()
        # steps and events are only ever appended to: their largest rowid is their count, read at once
        tables = {t: db.execute(f"SELECT coalesce(max(rowid), 0) FROM {t}" if t in _APPEND_ONLY else
                                f"SELECT count(*) FROM {t}").fetchone()[0] for t in self.tables}
        per_topic = db.execute("SELECT topic, sum(records), max(last_ms) FROM positions "
                               "GROUP BY topic").fetchall()
        return IndexStats(tables, {t: n for t, n, _ in per_topic}, {t: ms for t, _, ms in per_topic})

    # -- helpers ---------------------------------------------------------------------------

    def _steps(self, db: sqlite3.Connection, order_id: str) -> list[tuple[Any, ...]]:
        return db.execute(_ORDER_STEPS, (order_id,)).fetchall()

    def _processing(self, db: sqlite3.Connection, row: tuple[Any, ...]) -> j.Processing:
        (_, _, at, service, handler, route, step, outcome, topic, partition, offset, error_class,
         error_message, dlq_topic) = row
        dead_letter = None
        if outcome == "DEAD_LETTERED":
            found = db.execute(
                f'SELECT d.topic, d.partition, d."offset", r.by IS NOT NULL, r.by FROM dead_letters d '
                f'{_REPLAY_JOIN} WHERE '
                'd.original_topic = ? AND d.original_partition = ? AND d.original_offset = ? AND '
                '(d.topic = ? OR d.service = ?) ORDER BY d."offset" DESC LIMIT 1',
                (topic, partition, offset, dlq_topic, service)).fetchone()
            dead_letter = (j.DeadLetterRef(found[0], found[1], found[2], bool(found[3]), found[4])
                           if found else None)
        error = f"{str(error_class).rsplit('.', 1)[-1]}: {error_message}" if error_class else None
        where = f"{topic}/{partition}/{offset}"
        return j.Processing(at, service, handler, route, step, outcome, where, error, dead_letter)

    def _hit(self, db: sqlite3.Connection, order_id: str) -> OrderHit:
        order = db.execute("SELECT order_number, platform_order_id, platform, shop, email, total, "
                           "placed_at_ms FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        number, platform_id, platform, shop, email, total, placed_at = order or (None,) * 7
        steps = sorted((self._processing(db, row) for row in self._steps(db, order_id)),
                       key=lambda p: p.at_ms)
        shown = [step for p in steps if not (step := j.processing_step(p)).minor]
        last = shown[-1] if shown else None
        stuck = any(p.outcome == "DEAD_LETTERED" and not (p.dead_letter and p.dead_letter.replayed)
                    for p in steps)
        status = db.execute("SELECT status FROM events WHERE order_id = ? AND kind = 'status' "
                            "ORDER BY at_ms DESC LIMIT 1", (order_id,)).fetchone()
        return OrderHit(order_id, number, platform_id, platform, shop, email, total, placed_at,
                        last.label if last else None, last.outcome if last else None,
                        last.at_ms if last else None, stuck, status[0] if status else None)


def _now(now_ms: int | None) -> int:
    return int(time.time() * 1000) if now_ms is None else now_ms
