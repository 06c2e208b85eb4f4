"""One order's journey: every step across services and topics, oldest first, in words.

The index (:mod:`services.console.index`) hands over what it knows about one order as *facts*:
raw deliveries received (:class:`Received`), business events on the event topics
(:class:`Event`: placed, reservation, status, shipment) and processing outcomes from the audit
trail (:class:`Processing`). :func:`build` turns them into a :class:`Journey`.

What each fact means in words is business knowledge of our services, kept here as data:
:data:`EVENT_WORDS` for events, :data:`PROCESSING_WORDS` for audit outcomes (first matching rule
wins) and :data:`ROUTES` for the router's routes (``deploy/routes.yaml``). A processing step that
only repeats what an event already shows (order-capture interpreting a delivery that became an
OrderPlaced) is kept but marked ``minor``, so a page can fold it.

After the sale, cancellations, refunds, returns and disputes are events too (:data:`AFTER_SALE`):
their detail starts with their words ("refunded 19.31 USD (1 unit restocked) · reason"), and the
payment kinds carry their payment fact as status, from which :func:`build` derives the order's
payment status (:mod:`bus.ops.payment`, the rules ``ecombus trace`` shows too).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bus.ops.payment import Payment, derive, fact_from_text

ROUTER = "router"
ROUTES: dict[str, str] = {
    "orders-to-erp-csv": "ERP import file",
    "orders-to-erp-cxml": "ERP cXML order",
    "order-review": "review of high-value orders",
    "erp-stock-file": "ERP stock file",
    "refunds-to-erp-csv": "ERP credit memo file",
    "refunds-to-erp-cxml": "ERP cXML credit memo",
    "returns-to-erp-csv": "ERP return authorization file",
    "dispute-review": "review of disputes",
}
"""The router's routes (deploy/routes.yaml) in words."""
ERP_ROUTES = frozenset({"orders-to-erp-csv", "orders-to-erp-cxml"})
"""Routes that deliver an order to the ERP: a successful one means the order is in the ERP."""
FAILED_OUTCOMES = frozenset({"DEAD_LETTERED", "FAILED"})
TERMINAL_STATUSES = frozenset({"DELIVERED", "CANCELLED", "RETURNED"})
AFTER_SALE = frozenset({"cancelled", "refunded", "return", "disputed"})
"""Event kinds whose words are the first part of their detail (written when indexed)."""
PAYMENT_KINDS = frozenset({"placed", "cancelled", "refunded", "disputed"})
"""Event kinds whose status is a payment fact (:func:`bus.ops.payment.fact_text`)."""

EVENT_WORDS: dict[tuple[str, str | None], str] = {
    ("placed", None): "order placed",
    ("reservation", "RESERVED"): "stock reserved",
    ("reservation", "PARTIAL"): "stock partly reserved",
    ("reservation", "OUT_OF_STOCK"): "out of stock",
    ("status", "PLACED"): "status: placed",
    ("status", "ACCEPTED"): "accepted",
    ("status", "RESERVED"): "status: reserved",
    ("status", "BACKORDERED"): "backordered",
    ("status", "SHIPPED"): "fulfilled (shipped)",
    ("status", "IN_TRANSIT"): "in transit",
    ("status", "OUT_FOR_DELIVERY"): "out for delivery",
    ("status", "DELIVERED"): "delivered",
    ("status", "DELIVERY_FAILED"): "delivery failed",
    ("status", "RETURNED"): "returned",
    ("status", "CANCELLED"): "cancelled",
    ("shipment", "DELIVERED"): "parcel delivered",
    ("shipment", None): "tracking update",
}
"""(event kind, status or result) → words; (kind, None) is the kind's fallback."""


@dataclass(frozen=True)
class Rule:
    """How an audit outcome reads: every attribute that is not None must match.

    ``handler`` matches the handler's name or one of the routes it runs (the router names its
    handler ``route-a+route-b``); ``routes`` matches when the step's route, or else any route of
    its handler, is among them. ``words`` may use ``{service}``, ``{handler}`` and ``{routes}``
    (the routes in words).
    """

    words: str
    service: str | None = None
    handler: str | None = None
    outcome: str | None = None
    routes: frozenset[str] | None = None
    minor: bool = False


PROCESSING_WORDS: tuple[Rule, ...] = (
    Rule("sent to the ERP ({routes})", service=ROUTER, outcome="OK", routes=ERP_ROUTES),
    Rule("routed ({routes})", service=ROUTER, outcome="OK"),
    Rule("{routes} failed: dead-lettered", service=ROUTER, outcome="DEAD_LETTERED"),
    Rule("delivery interpreted", service="order-capture", handler="interpret_delivery", outcome="OK",
         minor=True),
    Rule("carrier update interpreted", service="shipping-tracker", handler="interpret_delivery",
         outcome="OK", minor=True),
    Rule("stock reservation made", service="inventory-sync", handler="reserve_stock", outcome="OK",
         minor=True),
    Rule("customer figures updated", service="crm-updater", handler="count_order", outcome="OK"),
    Rule("fulfillment sent to the storefront", service="shipping-tracker", handler="track_shipment",
         outcome="OK"),
    Rule("{service} ({handler}) done", outcome="OK", minor=True),
    Rule("dead letter replayed ({handler})", outcome="REPLAYED"),
    Rule("{service} saw a duplicate and ignored it", outcome="DUPLICATE", minor=True),
    Rule("{service} skipped it ({handler})", outcome="SKIPPED", minor=True),
    Rule("{service} retried ({handler})", outcome="RETRIED", minor=True),
    Rule("{service} could not process it ({handler}): dead-lettered", outcome="DEAD_LETTERED"),
    Rule("{service} failed ({handler})", outcome="FAILED"),
    Rule("{service} ({handler}): {outcome}"),
)
"""Audit outcomes in words, first matching rule wins (the last one matches everything)."""


@dataclass(frozen=True)
class DeadLetterRef:
    """Where a step's dead letter sits (a page links to it) and whether it was replayed."""

    topic: str
    partition: int
    offset: int
    replayed: bool
    by: str | None = None
    """Who replayed it (``ecombus.replayed.by``), or where the replayed copy went."""


@dataclass(frozen=True)
class Received:
    """A raw delivery (intake topic record) that belongs to the order."""

    at_ms: int
    channel: str
    path: str
    remote_addr: str | None
    received_by: str
    platform_topic: str
    where: str


@dataclass(frozen=True)
class Event:
    """A business event about the order (kind: placed, reservation, status, shipment)."""

    at_ms: int
    kind: str
    status: str | None
    detail: str | None
    source: str
    where: str


@dataclass(frozen=True)
class Processing:
    """One audit record about the order (``where`` is the processed event's position)."""

    at_ms: int
    service: str
    handler: str
    route: str | None
    step: str | None
    outcome: str
    where: str
    error: str | None
    dead_letter: DeadLetterRef | None = None


@dataclass(frozen=True)
class Step:
    """One line of the timeline.

    Attributes:
        at_ms: when (epoch milliseconds): received, occurred or processed.
        service: who (a service, an instance for raw deliveries, a platform for events).
        label: what happened, in words.
        outcome: RECEIVED, EVENT, or the audit outcome (OK, DEAD_LETTERED...).
        where: the record it is about, ``topic/partition/offset``.
        detail: more words (where from, reason of a status change, carrier and location).
        reason: why it failed, for failed outcomes.
        dead_letter: the dead letter it left, when it left one.
        minor: repeats what another step shows; a page may fold it.
    """

    at_ms: int
    service: str
    label: str
    outcome: str
    where: str
    detail: str | None = None
    reason: str | None = None
    dead_letter: DeadLetterRef | None = None
    minor: bool = False

    @property
    def failed(self) -> bool:
        return self.outcome in FAILED_OUTCOMES


@dataclass(frozen=True)
class Journey:
    """An order's timeline, oldest first, and where it stands."""

    order_id: str
    steps: list[Step] = field(default_factory=list)
    payment: Payment | None = None
    """The payment status derived from the order's events (None before any is known)."""

    @property
    def complete(self) -> bool:
        """It reached a final status (delivered, cancelled, returned) and nothing is stuck."""
        final = any(s.outcome == "EVENT" and s.label in _FINAL_LABELS for s in self.steps)
        return final and self.stopped_at is None

    @property
    def stopped_at(self) -> Step | None:
        """The latest failure still standing: not replayed, and not followed by a success of the
        same service and handler (a retry that went through). None when nothing is stuck."""
        for n in range(len(self.steps) - 1, -1, -1):
            step = self.steps[n]
            if not step.failed or (step.dead_letter is not None and step.dead_letter.replayed):
                continue
            later_ok = any(s.outcome == "OK" and s.service == step.service and s.detail == step.detail
                           for s in self.steps[n + 1:])
            if not later_ok:
                return step
        return None


_FINAL_LABELS = frozenset(EVENT_WORDS[("status", s)] for s in TERMINAL_STATUSES)


def route_names(handler: str, route: str | None) -> list[str]:
    """The routes an audit record is about: its failed route, else every route of its handler."""
    return [route] if route else handler.split("+")


def processing_rule(p: Processing) -> Rule:
    """The first rule of :data:`PROCESSING_WORDS` matching ``p``."""
    routes = route_names(p.handler, p.route)
    for rule in PROCESSING_WORDS:
        if ((rule.service is None or rule.service == p.service)
                and (rule.handler is None or rule.handler == p.handler or rule.handler in routes)
                and (rule.outcome is None or rule.outcome == p.outcome)
                and (rule.routes is None or not rule.routes.isdisjoint(routes))):
            return rule
    raise AssertionError("the last rule matches everything")


def processing_step(p: Processing) -> Step:
    rule = processing_rule(p)
    routes = route_names(p.handler, p.route)
    if rule.routes is not None:
        routes = [r for r in routes if r in rule.routes]
    words = rule.words.format(service=p.service, handler=p.handler, outcome=p.outcome,
                              routes=", ".join(ROUTES.get(r, r) for r in routes))
    return Step(p.at_ms, p.service, words, p.outcome, p.where, detail=f"{p.service}/{p.handler}",
                reason=p.error, dead_letter=p.dead_letter, minor=rule.minor)


def event_step(e: Event) -> Step:
    if e.kind in AFTER_SALE:
        words, _, more = (e.detail or e.kind).partition(" · ")
        return Step(e.at_ms, e.source, words, "EVENT", e.where, detail=more or None)
    words = EVENT_WORDS.get((e.kind, e.status)) or EVENT_WORDS.get((e.kind, None)) or e.kind
    if e.kind == "shipment" and e.status and (e.kind, e.status) not in EVENT_WORDS:
        words = f"{words}: {e.status.lower().replace('_', ' ')}"
    return Step(e.at_ms, e.source, words, "EVENT", e.where, detail=e.detail)


def received_step(r: Received) -> Step:
    origin = f"{r.channel} {r.path}" + (f" from {r.remote_addr}" if r.remote_addr else "")
    label = f"received ({r.platform_topic})" if r.platform_topic else "received"
    return Step(r.at_ms, r.received_by, label, "RECEIVED", r.where, detail=origin)


_RANK = {"RECEIVED": 0, "EVENT": 2}


def build(order_id: str, received: list[Received], events: list[Event],
          processing: list[Processing]) -> Journey:
    """The journey of ``order_id`` from its facts: every step, oldest first.

    Steps at the same millisecond keep the order a story reads in: the delivery, then what was
    done with it, then the event that came of it.
    """
    steps = [received_step(r) for r in received] + [processing_step(p) for p in processing]
    steps += [event_step(e) for e in events]
    steps.sort(key=lambda s: (s.at_ms, _RANK.get(s.outcome, 1)))
    return Journey(order_id, steps, payment_of(events))


def payment_of(events: list[Event]) -> Payment | None:
    """The payment status from the payment facts of ``events``, taken in the order they happened."""
    ordered = sorted(events, key=lambda e: (e.at_ms, e.where.rsplit("/", 1)[0], _offset(e.where)))
    facts = [fact_from_text(e.status) for e in ordered if e.kind in PAYMENT_KINDS]
    return derive(f for f in facts if f is not None)


def _offset(where: str) -> int:
    tail = where.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 0
