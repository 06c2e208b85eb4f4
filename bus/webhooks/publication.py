"""What a delivery means on the bus (a :class:`Publication`), and the producer settings of an edge.

The exactly-once stage behind a raw intake (:mod:`bus.webhooks.stage`) asks a service what a
delivery means: a :class:`Publication` holds the platform's dedupe keys (Shopify
``X-Shopify-Event-Id``, BigCommerce ``hash``, ...) and the records to produce; the stage
produces the records and marks the keys in one transaction, unless a key was handled before.
A delivery that means several independent things (a reconciled order: its placement, its
cancellation, each of its refunds) is a :meth:`Publication.combined` of parts, each deduplicated
on its own keys: the parts already handled are skipped, the new ones published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bus.runtime.handlers import Headers


@dataclass(frozen=True)
class Record:
    """One event to produce: ``value`` is a contract model (or its Avro dict)."""

    topic: str
    key: str
    value: Any
    event_id: str
    headers: Headers = field(default_factory=list)


@dataclass(frozen=True)
class Publication:
    """What one webhook (or one reconciled order) puts on the bus.

    Attributes:
        dedupe_keys: the platform's ids of this event; none seen before, or nothing is produced.
        records: the events, produced in this order.
        note: why nothing is published, for an event the service ignores.
        parts: independent publications (see :meth:`combined`); empty for a single one.
    """

    dedupe_keys: tuple[str, ...]
    records: tuple[Record, ...] = ()
    note: str | None = None
    parts: tuple[Publication, ...] = ()

    @classmethod
    def combined(cls, parts: Sequence[Publication], note: str | None = None) -> Publication:
        """Several publications of one delivery, each deduplicated on its own keys (those with
        no records are dropped, combined ones are flattened into their parts); ``records`` and
        ``dedupe_keys`` are all of theirs, in order."""
        kept = tuple(q for p in parts for q in (p.parts or (p,)) if q.records)
        if not kept:
            return cls.ignored(note or "; ".join(p.note for p in parts if p.note) or "nothing to publish")
        return cls(tuple(k for p in kept for k in p.dedupe_keys), tuple(r for p in kept for r in p.records),
                   note, kept)

    @classmethod
    def ignored(cls, why: str) -> Publication:
        return cls((), (), why)
