"""After the sale: what cancellations, refunds and returns do to an order's stock, each once.

Every decided order gets an :class:`OrderLedger`: per order line the units ordered and reserved
(and where), and the units given back since. Each after-sale event turns into
:class:`Movement` s the :class:`~.allocation.StockBook` applies to the SKUs' positions:

* **release** (units never shipped go back to sellable stock): an ``OrderCancelled`` with
  ``restock`` releases every unit still reserved for the order; a refund line with restock type
  ``CANCEL`` releases up to its quantity. A line never releases more than it reserved, so a
  cancellation and the ``CANCEL`` refund Shopify sends with it release the units once, in either
  order. A cancellation with ``restock`` false (the merchant kept the units aside) moves nothing.
* **restock** (units shipped come back on hand): a refund line with restock type ``RETURN`` or
  ``LEGACY_RESTOCK``, and a ``ReturnUpdated`` with status ``RECEIVED``. A Shopify return is
  usually received *and* refunded with ``RETURN``: both describe the same units, so per order line
  each source keeps its own count (``refunded_back``, ``received_back``) and the line's restocked
  units are the larger of the two, never their sum; an event restocks only what it raises that
  maximum by. Either order, and a partial refund followed by a full receipt, restock each unit once.
  (The price: a unit refunded with ``RETURN`` *without* a return, plus a *different* unit of the
  same line received in a return, restock one unit, not two; Shopify makes a return for both.)
  A line never restocks more than it shipped (ordered minus released).
* Other restock types (``NO_RESTOCK``, ``UNKNOWN``), other return statuses and refund lines that
  name no line of the order (a custom item, a tip) move no stock.

Each event is applied once per order: its dedupe key (``cancel``, ``refund:<refund_id>``,
``return:<return_id>:RECEIVED``) is kept in the ledger, which is changelogged in the same
transaction as its effects, so a redelivered refund restocks nothing twice, across restarts too.
Refund and return lines find their order line by ``line_id``, else by SKU.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bus.contracts import models as m

RESTOCKING = frozenset({m.RestockType.RETURN, m.RestockType.LEGACY_RESTOCK})


@dataclass(frozen=True)
class Movement:
    """Units of one order line going back: ``released`` from its reservation, ``restocked`` on hand."""

    line_id: str
    sku: str
    released: int = 0
    restocked: int = 0
    location: str | None = None
    """Where restocked units come back, when the event says (else where the line was held)."""


@dataclass
class LedgerLine:
    """One order line's stock over the order's life."""

    line_id: str
    sku: str
    ordered: int
    reserved: int
    location: str | None
    released: int = 0
    refunded_back: int = 0
    received_back: int = 0

    @property
    def restocked(self) -> int:
        """Units back on hand: refunds and returns count the same units, so the larger of the two."""
        return max(self.refunded_back, self.received_back)

    @property
    def still_reserved(self) -> int:
        """Units reserved, neither released nor shipped and come back."""
        return max(0, self.reserved - self.released - self.restocked)

    def release(self, units: int) -> int:
        """Release up to ``units`` still reserved; returns how many."""
        taken = min(units, self.still_reserved)
        self.released += taken
        return taken

    def take_back(self, units: int, *, by_refund: bool) -> int:
        """Count ``units`` back from a refund or a return; returns how many that adds on hand."""
        before, shipped = self.restocked, self.ordered - self.released
        if by_refund:
            self.refunded_back = min(shipped, self.refunded_back + units)
        else:
            self.received_back = min(shipped, self.received_back + units)
        return max(0, self.restocked - before)


@dataclass
class OrderLedger:
    """A decided order's lines and the after-sale events applied to them (by dedupe key)."""

    order_id: str
    lines: dict[str, LedgerLine]
    applied: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, order_id: str, requested: Iterable[tuple[str, str, int]],
           decided: Iterable[m.ReservationLine]) -> OrderLedger:
        """The ledger of a decision: ``requested`` (line_id, sku, quantity) beside its reservation lines."""
        lines = {line_id: LedgerLine(line_id, sku, quantity, r.reserved, r.location)
                 for (line_id, sku, quantity), r in zip(requested, decided, strict=True)}
        return cls(order_id, lines)

    @property
    def skus(self) -> set[str]:
        return {line.sku for line in self.lines.values()}

    def cancel(self, event: m.OrderCancelled) -> list[Movement] | None:
        """Release every unit still reserved (if ``restock``); None when already applied."""
        if not self._first("cancel"):
            return None
        if not event.restock:
            return []
        return [Movement(ln.line_id, ln.sku, released=ln.release(ln.still_reserved))
                for ln in self.lines.values() if ln.still_reserved]

    def refund(self, event: m.OrderRefunded) -> list[Movement] | None:
        """Release ``CANCEL`` lines, restock ``RETURN``/``LEGACY_RESTOCK`` ones; None when already applied."""
        if not self._first(f"refund:{event.refund_id}"):
            return None
        moves: list[Movement] = []
        for refunded in event.lines:
            line = self._line(refunded.line_id, refunded.sku)
            if line is None or refunded.quantity <= 0:
                continue
            if refunded.restock_type == m.RestockType.CANCEL:
                moves.append(Movement(line.line_id, line.sku, released=line.release(refunded.quantity)))
            elif refunded.restock_type in RESTOCKING:
                moves.append(Movement(line.line_id, line.sku, location=refunded.location,
                                      restocked=line.take_back(refunded.quantity, by_refund=True)))
        return [move for move in moves if move.released or move.restocked]

    def receive(self, event: m.ReturnUpdated) -> list[Movement] | None:
        """Restock a RECEIVED return's units (others move nothing); None when already applied."""
        if event.status != m.ReturnStatus.RECEIVED:
            return []
        if not self._first(f"return:{event.return_id}:RECEIVED"):
            return None
        moves = []
        for returned in event.lines:
            line = self._line(returned.line_id, returned.sku)
            if line is not None and returned.quantity > 0:
                moves.append(Movement(line.line_id, line.sku, location=event.location,
                                      restocked=line.take_back(returned.quantity, by_refund=False)))
        return [move for move in moves if move.restocked]

    def _first(self, key: str) -> bool:
        if key in self.applied:
            return False
        self.applied.add(key)
        return True

    def _line(self, line_id: str | None, sku: str | None) -> LedgerLine | None:
        if line_id is not None and line_id in self.lines:
            return self.lines[line_id]
        return next((ln for ln in self.lines.values() if sku is not None and ln.sku == sku), None)
