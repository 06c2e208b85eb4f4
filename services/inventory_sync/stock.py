"""Stock positions: the per-SKU state machine behind reservations that never oversell.

A :class:`Position` is one SKU: the ERP's latest level per location, the *holds* (units
reserved for orders the ERP has not accounted for yet) and the orders *waiting* for the SKU's
first level. What a location can still sell is ``ERP available - held`` (never below 0). Rules:

* A level never goes back in time: a count with an older ``as_of`` than the one held is ignored.
* A hold is taken per order line, at the location with the most sellable units (ties by name),
  for ``min(requested, sellable)`` units; a line asked again finds its hold and takes nothing more.
* The ERP absorbs a hold: once a count for that location is ``settle`` later than the moment the
  order reached the bus (time for the router to hand it to the ERP and the ERP to reserve it),
  the count already includes the order, so the hold is dropped.
* After the sale (:mod:`.aftersale`), units given back are taken off the order line's hold while
  it lasts; units the ERP already counted as gone (an absorbed hold, a shipped unit back on hand)
  become a *credit* at a location: sellable until the ERP's count includes them, which the same
  ``settle`` rule decides (a count ``settle`` later than the event drops the credit). So
  ``sellable = ERP available - held + credited``, and restocked credits add to ``on_hand`` too.

Whole orders are decided by :class:`~services.inventory_sync.allocation.StockBook`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bus.contracts import models as m


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


@dataclass(frozen=True)
class Credit:
    """Units given back at one location that the ERP's count does not include yet."""

    key: str
    """What gave them: the after-sale event's dedupe key and the order line."""
    location: str
    quantity: int
    at: datetime
    """When the event reached the bus (absorbed by a count ``settle`` later)."""
    on_hand: bool
    """Units back on hand (a return), not only released from a reservation."""


@dataclass(frozen=True)
class OrderRequest:
    """What deciding an order needs, also kept while the order waits for a SKU's first level."""

    order_id: str
    event_id: str
    correlation_id: str
    arrived: datetime
    """When the order reached the bus (its record's timestamp)."""
    lines: tuple[tuple[str, str, int], ...]
    """(line_id, sku, quantity) per order line."""

    @classmethod
    def of(cls, order: m.OrderPlaced, arrived: datetime) -> OrderRequest:
        return cls(order.order_id, order.meta.event_id, order.meta.correlation_id, arrived,
                   tuple((line.line_id, line.sku, line.quantity) for line in order.lines))

    @property
    def skus(self) -> set[str]:
        return {sku for _, sku, _ in self.lines}


@dataclass
class Position:
    """One SKU's levels per location, holds per (order, line), and orders waiting for a level."""

    sku: str
    levels: dict[str, Level] = field(default_factory=dict)
    holds: dict[tuple[str, str], Hold] = field(default_factory=dict)
    waiting: dict[str, OrderRequest] = field(default_factory=dict)
    credits: dict[str, Credit] = field(default_factory=dict)

    def held(self, location: str) -> int:
        return sum(h.quantity for h in self.holds.values() if h.location == location)

    def credited(self, location: str, *, on_hand: bool = False) -> int:
        """Units credited at ``location`` (only those back on hand with ``on_hand``)."""
        return sum(c.quantity for c in self.credits.values()
                   if c.location == location and (c.on_hand or not on_hand))

    def sellable(self, location: str) -> int:
        """Units the storefront may sell at ``location``: ERP available minus holds plus credits, >= 0."""
        level = self.levels.get(location)
        return max(0, (level.available if level else 0) - self.held(location) + self.credited(location))

    def release(self, order_id: str, line_id: str, units: int) -> int:
        """Take up to ``units`` off the line's hold; returns how many (the rest the ERP already counted)."""
        hold = self.holds.get((order_id, line_id))
        if hold is None or units <= 0:
            return 0
        taken = min(units, hold.quantity)
        if taken == hold.quantity:
            del self.holds[(order_id, line_id)]
        else:
            self.holds[(order_id, line_id)] = replace(hold, quantity=hold.quantity - taken)
        return taken

    def credit(self, credit: Credit) -> None:
        """Add ``credit`` (to the one of the same key, if any)."""
        earlier = self.credits.get(credit.key)
        self.credits[credit.key] = credit if earlier is None else replace(
            earlier, quantity=earlier.quantity + credit.quantity)

    def apply_level(self, location: str, level: Level, settle: timedelta) -> bool:
        """Take a newer ERP count (and drop the holds it absorbs); False when it is older."""
        current = self.levels.get(location)
        if current is not None and level.as_of < current.as_of:
            return False
        self.levels[location] = level
        for key, hold in list(self.holds.items()):
            if hold.location == location and hold.held_at + settle <= level.as_of:
                del self.holds[key]
        for name, credit in list(self.credits.items()):
            if credit.location == location and credit.at + settle <= level.as_of:
                del self.credits[name]
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
