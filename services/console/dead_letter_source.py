"""Where the dead-letter pages get their rows and records: the one place that asks the index.

Rows (what the lists show) come from the journey index when the console has one
(``dead_letter_summary``, ``dead_letters``, ``dead_letter``, ``mark_replayed``), else straight from
the ``dlq.<service>`` topics (:func:`bus.ops.dlq.pending`: every record after the commit of the
replay group ``ecombus.dlq-replay.<service>``, as ``ecombus dlq list`` counts them; a record
replayed out of order stays pending there until the commit passes it). Records (a value and its
headers, what a detail page decodes and a replay produces) are always read from the topic at
their position (:func:`bus.ops.reading.fetch`): the index keeps no values.

A row has the attributes of :class:`bus.ops.dlq.DeadLetterInfo` (the index's rows have the same).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bus.ops import dlq as dlq_ops
from bus.ops.reading import fetch
from bus.ops.replay import Position
from bus.runtime.dlq import dlq_topic
from bus.runtime.handlers import Consumed
from bus.settings import ClientConfig
from services.console.context import Console

READER = "dead_letters.reader"
"""``console.extras`` key of the :class:`RecordReader` (tests put an in-memory one there)."""


@dataclass(frozen=True)
class Group:
    """Pending dead letters of one service with one reason."""

    service: str
    reason: str
    pending: int
    oldest_age_seconds: float | None


@dataclass(frozen=True)
class Criteria:
    """Which dead letters of a service: exact reason, handler, route; key as a substring."""

    service: str
    reason: str | None = None
    handler: str | None = None
    route: str | None = None
    key: str | None = None

    def matches(self, row: Any) -> bool:
        return (row.service == self.service and self.reason in (None, row.reason)
                and self.handler in (None, row.handler) and self.route in (None, row.route)
                and (self.key is None or self.key in (row.key or "")))

    @property
    def beyond_index(self) -> bool:
        """Criteria the index cannot apply itself (filtered here)."""
        return bool(self.handler or self.route or self.key)


class RecordReader(Protocol):
    """Reads dead letters from their topics."""

    def fetch(self, topic: str, offsets: Iterable[tuple[int, int]]) -> dict[tuple[int, int], Consumed]:
        """The records at these (partition, offset) pairs (absent: not there)."""

    def pending(self, service: str) -> list[dlq_ops.DeadLetterInfo]:
        """The service's dead letters after the replay group's commit."""

    def advance(self, service: str, replayed: Callable[[int, int], bool], partitions: Sequence[int]) -> None:
        """Move the replay group over a leading run of replayed records (:func:`bus.ops.dlq.advance`)."""


class TopicReader:
    """:class:`RecordReader` on the cluster (through :mod:`bus.ops`)."""

    def __init__(self, client: ClientConfig) -> None:
        self.client = client

    def fetch(self, topic: str, offsets: Iterable[tuple[int, int]]) -> dict[tuple[int, int], Consumed]:
        return fetch(self.client, topic, offsets)

    def pending(self, service: str) -> list[dlq_ops.DeadLetterInfo]:
        return dlq_ops.pending(self.client, service)

    def advance(self, service: str, replayed: Callable[[int, int], bool], partitions: Sequence[int]) -> None:
        dlq_ops.advance(self.client, service, replayed, partitions)


class DeadLetterSource:
    """Rows and records of dead letters for the pages (module docstring)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        reader: RecordReader | None = console.extras.get(READER)
        self.reader: RecordReader = reader or TopicReader(console.client)
        self.topics = {dlq_topic(s): s for s in console.settings.dlq_services}

    @property
    def indexed(self) -> bool:
        return self.console.index is not None

    def summary(self, service: str | None = None) -> list[Group]:
        """Pending dead letters per (service, reason), most first (of one service, if given)."""
        now_ms = int(self.console.clock() * 1000)
        index = self.console.index
        if index is not None:
            return [Group(g.service, g.reason, g.count, _age(now_ms, g.oldest_pending_ms))
                    for g in index.dead_letter_summary() if service in (None, g.service)]
        groups: dict[tuple[str, str], list[int]] = {}
        for name in [service] if service else self.console.settings.dlq_services:
            for row in self.reader.pending(name):
                groups.setdefault((row.service, row.reason), []).append(row.at_ms)
        return sorted((Group(s, r, len(at), _age(now_ms, min(at))) for (s, r), at in groups.items()),
                      key=lambda g: (-g.pending, g.service, g.reason))

    def rows(self, criteria: Criteria, pending_only: bool = True, limit: int = 100,
             offset: int = 0) -> list[Any]:
        """Dead letters matching ``criteria``, oldest first."""
        index = self.console.index
        if index is None:
            found = [r for r in self.reader.pending(criteria.service) if criteria.matches(r)]
            found.sort(key=lambda r: (r.at_ms, r.partition, r.offset))
            return found[offset:offset + limit]
        if not criteria.beyond_index:
            return list(index.dead_letters(service=criteria.service, reason=criteria.reason,
                                           pending_only=pending_only, limit=limit, offset=offset))
        wide = index.dead_letters(service=criteria.service, reason=criteria.reason, pending_only=pending_only,
                                  limit=self.console.settings.replay_max_records, offset=0)
        return [r for r in wide if criteria.matches(r)][offset:offset + limit]

    def rows_at(self, positions: Sequence[Position]) -> dict[Position, Any]:
        """The rows at these positions (absent: no such dead letter)."""
        index = self.console.index
        if index is not None:
            found = {p: index.dead_letter(p.topic, p.partition, p.offset) for p in positions}
            return {p: row for p, row in found.items() if row is not None}
        return {p: dlq_ops.info_of(record) for p, record in self.records(positions).items()}

    def records(self, positions: Sequence[Position]) -> dict[Position, Consumed]:
        """The records at these positions, read from their topics (absent: not there)."""
        by_topic: dict[str, list[Position]] = {}
        for p in positions:
            by_topic.setdefault(p.topic, []).append(p)
        found: dict[Position, Consumed] = {}
        for topic, wanted in by_topic.items():
            records = self.reader.fetch(topic, [(p.partition, p.offset) for p in wanted])
            found.update({p: records[(p.partition, p.offset)] for p in wanted
                          if (p.partition, p.offset) in records})
        return found

    def mark_replayed(self, position: Position, by: str) -> None:
        """Tell the index (if any) that the dead letter at ``position`` was replayed by ``by``."""
        if self.console.index is not None:
            self.console.index.mark_replayed(position.topic, position.partition, position.offset, by,
                                             int(self.console.clock() * 1000))

    def replayed(self, position: Position) -> bool:
        """Whether the index knows the dead letter at ``position`` as replayed."""
        index = self.console.index
        row = index.dead_letter(position.topic, position.partition, position.offset) if index else None
        return bool(row is not None and row.replayed)

    def position(self, text: str) -> Position | None:
        """A position on a dead-letter topic the console shows, or None (anything else is refused)."""
        if not re.fullmatch(r"[A-Za-z0-9._-]+/\d{1,9}/\d{1,19}", text.strip()):
            return None
        found = Position.parse(text)
        return found if found.topic in self.topics else None


def _age(now_ms: int, oldest_ms: int | None) -> float | None:
    return None if oldest_ms is None else max(0.0, (now_ms - oldest_ms) / 1000)
