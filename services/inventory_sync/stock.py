"""Stock positions and reservations: the state machine that never oversells.

A :class:`Position` is one SKU: the ERP's latest level per location and the *holds* (units
reserved for orders the ERP has not accounted for yet). What a location can still sell is
``ERP available - held`` (never below 0). Rules:

* A level never goes back in time: a count with an older ``as_of`` than the one held is ignored.
* A hold is taken per order line, at the location with the most sellable units (ties by name),
  for ``min(requested, sellable)`` units; a line asked again finds its hold and takes nothing more.
* The ERP absorbs a hold: once a count for that location is ``settle`` later than the moment the
  order reached the bus (time for the router to hand it to the ERP and the ERP to reserve it),
  the count already includes the order, so the hold is dropped.

:class:`StockBook` decides whole orders. An order is decided once: one seen before the last
restart (its reservation is on the reservations topic) yields no decision, nor does the same order
arriving again in another record; the *same record* handed again (after an aborted transaction,
or a retry) yields the same decision again, so the outputs lost with it are emitted again.
Only one thread decides (the consumer loop); ``lock`` lets the storefront pusher read safely.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bus.contracts import models as m

RECENT_DECISIONS = 50_000


@dataclass(frozen=True)
class Level:
    """The ERP's count of one SKU at one location."""

    on_hand: int
    available: int
    reserved: int
    as_of: datetime


@dataclass(frozen=True)
class Hold:
    """Units of one order line held at one location."""

    order_id: str
    line_id: str
    location: str
    quantity: int
    held_at: datetime


@dataclass
class Position:
    """One SKU's levels per location and holds per (order, line)."""

    sku: str
    levels: dict[str, Level] = field(default_factory=dict)
    holds: dict[tuple[str, str], Hold] = field(default_factory=dict)

    def held(self, location: str) -> int:
        return sum(h.quantity for h in self.holds.values() if h.location == location)

    def sellable(self, location: str) -> int:
        """Units the storefront may sell at ``location``: ERP available minus holds, at least 0."""
        level = self.levels.get(location)
        return max(0, (level.available if level else 0) - self.held(location))

    def apply_level(self, location: str, level: Level, settle: timedelta) -> bool:
        """Take a newer ERP count (and drop the holds it absorbs); False when it is older."""
        current = self.levels.get(location)
        if current is not None and level.as_of < current.as_of:
            return False
        self.levels[location] = level
        for key, hold in list(self.holds.items()):
            if hold.location == location and hold.held_at + settle <= level.as_of:
                del self.holds[key]
        return True

    def hold(self, order_id: str, line_id: str, requested: int, held_at: datetime) -> Hold | None:
        """Hold up to ``requested`` units for the line; its existing hold if it has one."""
        existing = self.holds.get((order_id, line_id))
        if existing is not None:
            return existing
        if requested <= 0 or not self.levels:
            return None
        location = min(self.levels, key=lambda loc: (-self.sellable(loc), loc))
        quantity = min(requested, self.sellable(location))
        if quantity <= 0:
            return None
        hold = Hold(order_id, line_id, location, quantity, held_at)
        self.holds[(order_id, line_id)] = hold
        return hold


@dataclass(frozen=True)
class Decision:
    """The reservation decided for one order, and the positions it changed."""

    order_id: str
    result: m.ReservationResult
    lines: list[m.ReservationLine]
    decided_at: datetime
    touched: dict[str, set[str]]
    """sku → locations whose sellable quantity may have changed."""
    source: tuple[str, int, int] | None = None
    """(topic, partition, offset) of the record it was decided for."""

    @property
    def status(self) -> m.OrderStatus:
        reserved = self.result == m.ReservationResult.RESERVED
        return m.OrderStatus.RESERVED if reserved else m.OrderStatus.BACKORDERED

    @property
    def reason(self) -> str:
        if self.result == m.ReservationResult.RESERVED:
            return "all lines reserved"
        short = [f"{ln.sku} ({ln.reserved} of {ln.requested})" for ln in self.lines
                 if ln.reserved < ln.requested]
        return "not enough stock: " + ", ".join(short)


class StockBook:
    """Every SKU's position and which orders are decided."""

    def __init__(self, settle: timedelta) -> None:
        self.settle = settle
        self.positions: dict[str, Position] = {}
        self.decided: set[str] = set()
        self.recent: OrderedDict[str, Decision] = OrderedDict()
        self.lock = threading.RLock()

    def position(self, sku: str) -> Position:
        found = self.positions.get(sku)
        if found is None:
            found = self.positions[sku] = Position(sku)
        return found

    def sellable(self, sku: str, location: str) -> int:
        with self.lock:
            found = self.positions.get(sku)
            return found.sellable(location) if found else 0

    def apply_level(self, event: m.StockLevelChanged) -> bool:
        """Apply an ERP count; False when an newer count of that location is already known."""
        level = Level(event.on_hand, event.available, event.reserved, event.as_of)
        return self.position(event.sku).apply_level(event.location, level, self.settle)

    def reserve(self, order: m.OrderPlaced, held_at: datetime, now: datetime,
                source: tuple[str, int, int] | None = None) -> Decision | None:
        """Decide the order from the record at ``source``; None when it was decided before.

        The same record handed again gets its earlier decision back, to emit again.
        """
        earlier = self.recent.get(order.order_id)
        if earlier is not None:
            return earlier if earlier.source == source else None
        if order.order_id in self.decided:
            return None
        lines: list[m.ReservationLine] = []
        touched: dict[str, set[str]] = {}
        for line in order.lines:
            hold = self.position(line.sku).hold(order.order_id, line.line_id, line.quantity, held_at) \
                if line.sku in self.positions else None
            reserved = hold.quantity if hold else 0
            result = (m.ReservationResult.RESERVED if reserved >= line.quantity
                      else m.ReservationResult.PARTIAL if reserved else m.ReservationResult.OUT_OF_STOCK)
            lines.append(m.ReservationLine(sku=line.sku, requested=line.quantity, reserved=reserved,
                                           result=result, location=hold.location if hold else None))
            if hold:
                touched.setdefault(line.sku, set()).add(hold.location)
        decision = Decision(order.order_id, _overall(lines), lines, now, touched, source)
        self.decided.add(order.order_id)
        self.recent[order.order_id] = decision
        while len(self.recent) > RECENT_DECISIONS:
            self.recent.popitem(last=False)
        return decision


def _overall(lines: list[m.ReservationLine]) -> m.ReservationResult:
    if all(ln.reserved >= ln.requested for ln in lines):
        return m.ReservationResult.RESERVED
    if any(ln.reserved for ln in lines):
        return m.ReservationResult.PARTIAL
    return m.ReservationResult.OUT_OF_STOCK
