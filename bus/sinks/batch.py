"""The coalescing batch and the sink that writes it out: no Kafka here, only the contract.

A :class:`CoalescingBatch` holds the newest entry per key, in the order the keys first
arrived. It is *full* once its entries weigh ``size`` (one each unless a weight is given) and
*due* once full or once its oldest entry has waited ``linger`` seconds on the injected clock;
``None`` turns a trigger off.

A :class:`Sink` hands the whole batch to its writer and, only when the writer returned, hands
what the writer could not write (each a :class:`SetAside`) to ``set_aside``, then calls
``release`` with the batch and empties it. Anything raised on the way (a transient failure of
the writer, a dead letter not acknowledged, a failed release) leaves every entry in the batch
and nothing released: the next :meth:`Sink.flush` writes the same entries again, so writers
must be idempotent. Neither class is thread-safe: callers serialise ``add`` and ``flush``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from bus.errors import BusError

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class CoalescingBatch(Generic[K, V]):
    """The newest entry per key, full at ``size`` (by weight), due when full or after ``linger`` s.

    Args:
        size: the weight that makes the batch full, or None (never full).
        linger: seconds the oldest entry may wait, or None (no time trigger).
        clock: monotonic seconds (tests inject a fake one).
        weight: an entry's weight towards ``size`` (1 by default).
    """

    def __init__(self, size: int | None, linger: float | None, clock: Callable[[], float] = time.monotonic,
                 weight: Callable[[V], int] = lambda _entry: 1) -> None:
        self.size, self.linger, self._clock, self._weigh = size, linger, clock, weight
        self._entries: dict[K, V] = {}
        self._weight = 0
        self.opened: float | None = None
        self.coalesced = 0

    def add(self, key: K, entry: V) -> bool:
        """Keep ``entry`` as the newest of ``key``; True when it replaced an older one (coalesced)."""
        replaced = key in self._entries
        if replaced:
            self.coalesced += 1
            self._weight -= self._weigh(self._entries[key])
        elif self.opened is None:
            self.opened = self._clock()
        self._entries[key] = entry
        self._weight += self._weigh(entry)
        return replaced

    def full(self) -> bool:
        """The entries weigh ``size`` or more."""
        return bool(self._entries) and self.size is not None and self._weight >= self.size

    def due(self) -> bool:
        """Full, or the oldest entry has waited ``linger`` seconds."""
        if not self._entries or self.opened is None:
            return False
        lingered = self.linger is not None and self._clock() - self.opened >= self.linger
        return lingered or self.full()

    def entries(self) -> dict[K, V]:
        """A copy of what waits, by key, in the order the keys first arrived."""
        return dict(self._entries)

    def clear(self) -> None:
        """Forget every entry (the next one opens a new batch)."""
        self._entries, self._weight, self.opened = {}, 0, None

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class SetAside(Generic[V]):
    """An entry the writer could not write, and why (``error`` says transient or permanent)."""

    entry: V
    error: BusError
    attempts: int = 1
    first_failure: float = field(default_factory=time.time)


Write = Callable[[Mapping[K, V]], Sequence[SetAside[V]] | None]
"""Write a batch (by key); return the entries it could not write, or None when it wrote all."""


class Sink(Generic[K, V]):
    """A :class:`CoalescingBatch` written out by ``write`` and released after it (see the module).

    Args:
        write: the business rule: writes the batch, returns what it set aside; raises
            (e.g. TransientError) to have the whole batch kept and written again.
        size, linger, clock, weight: the batch's triggers (see :class:`CoalescingBatch`).
        set_aside: called after every write with what it set aside (possibly nothing); raises
            when that is not durably set aside (nothing is released then). Required when the
            writer may set entries aside.
        release: called with the batch once it was written and its failures set aside (commit,
            acknowledge, empty a spool).
    """

    def __init__(self, write: Write[K, V], *, size: int | None, linger: float | None,
                 clock: Callable[[], float] = time.monotonic, weight: Callable[[V], int] = lambda _entry: 1,
                 set_aside: Callable[[Sequence[SetAside[V]]], None] | None = None,
                 release: Callable[[Mapping[K, V]], None] = lambda _batch: None) -> None:
        self.batch: CoalescingBatch[K, V] = CoalescingBatch(size, linger, clock, weight)
        self._write, self._set_aside, self._release = write, set_aside, release

    def add(self, key: K, entry: V) -> bool:
        """Keep ``entry`` as the newest of ``key``; True when it replaced an older one."""
        return self.batch.add(key, entry)

    def full(self) -> bool:
        return self.batch.full()

    def due(self) -> bool:
        return self.batch.due()

    def discard(self) -> None:
        """Forget what waits without writing or releasing it (its owner reloads it from elsewhere)."""
        self.batch.clear()

    def flush(self) -> dict[K, V]:
        """Write what waits, set its failures aside, release it; the batch that went out ({} if none).

        Raises:
            Whatever ``write``, ``set_aside`` or ``release`` raised: the batch stays, unreleased.
        """
        batch = self.batch.entries()
        if not batch:
            self.batch.clear()
            return {}
        failures = self._write(batch) or []
        if self._set_aside is not None:
            self._set_aside(failures)
        elif failures:
            raise TypeError("the writer set entries aside but this sink has nowhere to put them")
        self._release(batch)
        self.batch.clear()
        return batch

    def __len__(self) -> int:
        return len(self.batch)
