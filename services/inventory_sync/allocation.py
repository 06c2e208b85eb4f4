"""Deciding whole orders against the stock positions: once each, never beyond what is sellable.

:class:`StockBook` holds every :class:`~.stock.Position` and applies these rules:

* An order is decided once. One decided before the last restart (its reservation is on the
  reservations topic) yields nothing, and so does the same order arriving in another record.
  The *same record* handed again (after an aborted transaction, or a retry) yields the same
  decisions again, so the outputs lost with them are emitted again.
* An order naming a SKU whose level was never seen is not decided against nothing: it waits
  (``parked``) until every SKU it names has a level, or for ``park_timeout`` at most, then it
  is decided (unknown lines out of stock). This covers a cold start or a backlog where orders
  are read before the ERP's first stock file, and a SKU the ERP does not carry.
* Each line takes a hold at the location with the most sellable units (see :mod:`.stock`).
* Each decided order keeps an :class:`~.aftersale.OrderLedger`; :meth:`StockBook.give_back`
  applies what a cancellation, refund or return moves (rules in :mod:`.aftersale`): released units
  come off the line's hold, or become a credit where the ERP already absorbed it; restocked units
  become an on-hand credit where the event says, else where the line was held, else at the
  location with the most units on hand.

Every method returns an :class:`Outcome`: the decisions to publish and the positions to record.
Only the consumer loop's thread decides; ``lock`` lets the storefront pusher read safely.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bus.contracts import models as m
from services.inventory_sync.aftersale import LedgerLine, Movement, OrderLedger
from services.inventory_sync.stock import Credit, Level, OrderRequest, Position

Source = tuple[str, int, int]
"""(topic, partition, offset) of a consumed record."""
RECENT = 50_000
R = m.ReservationResult


@dataclass(frozen=True)
class Decision:
    """The reservation decided for one order."""

    request: OrderRequest
    result: m.ReservationResult
    lines: list[m.ReservationLine]
    decided_at: datetime
    source: Source | None = None
    """The record whose handling decided it."""

    @property
    def status(self) -> m.OrderStatus:
        return m.OrderStatus.RESERVED if self.result == R.RESERVED else m.OrderStatus.BACKORDERED

    @property
    def reason(self) -> str:
        if self.result == R.RESERVED:
            return "all lines reserved"
        short = [f"{ln.sku} ({ln.reserved} of {ln.requested})" for ln in self.lines
                 if ln.reserved < ln.requested]
        return "not enough stock: " + ", ".join(short)


@dataclass
class Outcome:
    """What handling one record changed."""

    decisions: dict[str, Decision] = field(default_factory=dict)
    touched: dict[str, set[str]] = field(default_factory=dict)
    """sku → locations whose sellable quantity may have changed (empty: record the position only)."""
    ledgers: dict[str, OrderLedger] = field(default_factory=dict)
    """Order ledgers to record (besides those of the decisions)."""

    def touch(self, sku: str, locations: set[str] | None = None) -> None:
        self.touched.setdefault(sku, set()).update(locations or ())

    def add(self, decision: Decision) -> None:
        self.decisions[decision.request.order_id] = decision
        for line in decision.lines:
            if line.location:
                self.touch(line.sku, {line.location})


class StockBook:
    """Every SKU's position, the orders decided and the orders waiting."""

    def __init__(self, settle: timedelta, park_timeout: timedelta = timedelta(minutes=1)) -> None:
        self.settle, self.park_timeout = settle, park_timeout
        self.positions: dict[str, Position] = {}
        self.decided: set[str] = set()
        self.parked: dict[str, OrderRequest] = {}
        self.recent: OrderedDict[str, Decision] = OrderedDict()
        self.by_source: OrderedDict[Source, list[str]] = OrderedDict()
        self.ledgers: dict[str, OrderLedger] = {}
        self.lock = threading.RLock()

    def position(self, sku: str) -> Position:
        found = self.positions.get(sku)
        if found is None:
            found = self.positions[sku] = Position(sku)
        return found

    def known(self, sku: str) -> bool:
        """Whether a level of this SKU was ever seen."""
        found = self.positions.get(sku)
        return bool(found and found.levels)

    def sellable(self, sku: str, location: str) -> int:
        with self.lock:
            found = self.positions.get(sku)
            return found.sellable(location) if found else 0

    def restored(self, position: Position) -> None:
        """Take a position read back from the changelog; a later record of the same SKU replaces
        it. Once every record is read, :meth:`finish_restore` parks the orders waiting."""
        self.positions[position.sku] = position

    def finish_restore(self) -> None:
        """After the changelogs were read back: the orders waiting are those the *latest* position of
        a SKU names (an older record of the SKU still names orders decided since) and that are not
        decided (a cancelled waiting order has a ledger; a waiting record left behind waits no more)."""
        self.parked = {}
        for position in self.positions.values():
            for order_id in list(position.waiting):
                if order_id in self.decided or order_id in self.ledgers:
                    del position.waiting[order_id]
                else:
                    self.parked[order_id] = position.waiting[order_id]

    def replay(self, source: Source) -> Outcome:
        """The decisions made while handling ``source`` earlier in this run (none the first time)."""
        outcome = Outcome()
        for order_id in self.by_source.get(source, []):
            if order_id in self.recent:
                outcome.add(self.recent[order_id])
        return outcome

    def apply_level(self, event: m.StockLevelChanged, now: datetime, source: Source,
                    outcome: Outcome) -> bool:
        """Take an ERP count (False when a newer one is held), then decide orders it releases."""
        position = self.position(event.sku)
        level = Level(event.on_hand, event.available, event.reserved, event.as_of)
        newer = position.apply_level(event.location, level, self.settle)
        outcome.touch(event.sku, {event.location})
        for request in list(position.waiting.values()):
            del position.waiting[request.order_id]
            if all(self.known(sku) for sku in request.skus):
                self._decide(request, now, source, outcome)
        return newer

    def reserve(self, request: OrderRequest, now: datetime, source: Source, outcome: Outcome) -> None:
        """Decide the order, or park it while one of its SKUs has no level yet."""
        earlier = self.recent.get(request.order_id)
        if earlier is not None:
            if earlier.source == source:
                outcome.add(earlier)
            return
        if request.order_id in self.decided or request.order_id in self.ledgers:
            return
        unknown = {sku for sku in request.skus if not self.known(sku)}
        if not unknown or request.arrived + self.park_timeout <= now:
            self._decide(request, now, source, outcome)
            return
        self.parked[request.order_id] = request
        for sku in sorted(unknown):
            self.position(sku).waiting[request.order_id] = request
            outcome.touch(sku)

    def expire(self, now: datetime, source: Source, outcome: Outcome) -> None:
        """Decide the orders that waited ``park_timeout`` for a level that never came."""
        for request in list(self.parked.values()):
            if request.arrived + self.park_timeout <= now:
                self._decide(request, now, source, outcome)

    def cancel_waiting(self, order_id: str, outcome: Outcome) -> OrderLedger | None:
        """Decide an order still waiting for a level as cancelled: un-parked, nothing reserved, ever.

        Its ledger (every line reserved 0, the cancellation applied) goes to ``outcome`` with the
        positions it no longer waits on, so the changelog read back on a restart has it decided and
        waiting nowhere; a later level, the cancellation again, or the order again reserves nothing.
        None when the order is not waiting."""
        request = self.unpark(order_id, outcome)
        if request is None:
            return None
        ledger = OrderLedger(order_id, {line_id: LedgerLine(line_id, sku, quantity, 0, None)
                                        for line_id, sku, quantity in request.lines}, {"cancel"})
        self.decided.add(order_id)
        self.ledgers[order_id] = outcome.ledgers[order_id] = ledger
        return ledger

    def unpark(self, order_id: str, outcome: Outcome | None = None) -> OrderRequest | None:
        """Stop ``order_id`` waiting for levels (its positions touched in ``outcome``); the request,
        if it waited."""
        request = self.parked.pop(order_id, None)
        for position in self.positions.values():
            if position.waiting.pop(order_id, None) is not None and outcome is not None:
                outcome.touch(position.sku)
        return request

    def give_back(self, ledger: OrderLedger, moves: list[Movement] | None, key: str, at: datetime,
                  outcome: Outcome) -> None:
        """Apply an after-sale event's ``moves`` (``key`` names its credits; ``at``: when it reached the
        bus); None for an event already applied, whose positions are then recorded again as they are."""
        outcome.ledgers[ledger.order_id] = ledger
        if moves is None:
            for sku in ledger.skus:
                outcome.touch(sku, set(self.position(sku).levels))
            return
        for move in moves:
            line, position = ledger.lines[move.line_id], self.position(move.sku)
            credit_key = f"{ledger.order_id}:{key}:{move.line_id}"
            unheld = move.released - position.release(ledger.order_id, move.line_id, move.released)
            if move.released:
                outcome.touch(move.sku, {line.location} if line.location else set())
            if unheld and line.location:
                position.credit(Credit(credit_key, line.location, unheld, at, on_hand=False))
            location = _restock_location(position, move.location, line.location)
            if move.restocked and location:
                position.credit(Credit(f"{credit_key}:back", location, move.restocked, at, on_hand=True))
                outcome.touch(move.sku, {location})

    def _decide(self, request: OrderRequest, now: datetime, source: Source, outcome: Outcome) -> None:
        self.parked.pop(request.order_id, None)
        lines: list[m.ReservationLine] = []
        for line_id, sku, quantity in request.lines:
            position = self.positions.get(sku)
            if position is not None and position.waiting.pop(request.order_id, None) is not None:
                outcome.touch(sku)
            hold = position.hold(request.order_id, line_id, quantity, request.arrived) if position else None
            reserved = hold.quantity if hold else 0
            result = R.RESERVED if reserved >= quantity else R.PARTIAL if reserved else R.OUT_OF_STOCK
            lines.append(m.ReservationLine(sku=sku, requested=quantity, reserved=reserved, result=result,
                                           location=hold.location if hold else None))
        decision = Decision(request, _overall(lines), lines, now, source)
        self.decided.add(request.order_id)
        self.ledgers[request.order_id] = OrderLedger.of(request.order_id, request.lines, lines)
        self.recent[request.order_id] = decision
        self.by_source.setdefault(source, []).append(request.order_id)
        while len(self.recent) > RECENT:
            self.recent.popitem(last=False)
        while len(self.by_source) > RECENT:
            self.by_source.popitem(last=False)
        outcome.add(decision)


def _restock_location(position: Position, named: str | None, held: str | None) -> str | None:
    """Where restocked units come back: the event's location, else the line's, else the most on hand."""
    for location in (named, held):
        if location is not None and location in position.levels:
            return location
    if not position.levels:
        return held
    return min(position.levels, key=lambda loc: (-position.levels[loc].on_hand, loc))


def _overall(lines: list[m.ReservationLine]) -> m.ReservationResult:
    if all(ln.reserved >= ln.requested for ln in lines):
        return R.RESERVED
    return R.PARTIAL if any(ln.reserved for ln in lines) else R.OUT_OF_STOCK
