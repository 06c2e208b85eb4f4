"""An order's payment status, derived from its events: paid, partially refunded, refunded, disputed.

No service keeps a payment status; it follows from what the order's topics say, so operators'
tools derive it the same way wherever they show it (``ecombus trace`` and the console's journey).
:func:`fact_of` takes the payment-relevant part of a decoded event (:class:`PaymentFact`), and
:func:`derive` folds an order's facts, in the order they happened, into a :class:`Payment`.

The rules (amounts are exact decimals; nothing is converted between currencies):

* **OrderPlaced** gives the order's total (shop currency, and the presentment currency when the
  customer paid in another one) and the starting status (its ``financial_status``, e.g. PAID).
* **OrderRefunded**: the refunds' totals are summed per currency. The status is decided in the
  shop currency (the accounting one): refunded ≥ the order's total → REFUNDED, more than zero →
  PARTIALLY_REFUNDED. Presentment sums are shown beside, never decide. A redelivered refund
  (same ``refund_id``) counts once.
* **DisputeUpdated**, the latest status of each dispute (by ``dispute_id``): NEEDS_RESPONSE,
  UNDER_REVIEW (or UNKNOWN) is open → DISPUTED, whatever the refunds say. WON → nothing taken,
  the status is the refunds' again. LOST and ACCEPTED → the bank took the disputed amount back
  without a platform refund: it counts as refunded (so a lost chargeback of the whole order
  makes it REFUNDED). CHARGE_REFUNDED → the merchant refunded it meanwhile: the money arrives as
  an OrderRefunded, so the dispute adds nothing (counting it would count the money twice).
* **OrderCancelled**: an order never captured (PENDING, AUTHORIZED) becomes VOIDED; a paid one
  keeps what its refunds say (a cancellation's money comes back as a refund), noted as cancelled.

Without the OrderPlaced (older than what was read), refunds still count but the total is
unknown: any refund gives PARTIALLY_REFUNDED, and the words say the total is not known.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from bus.contracts.models import DisputeStatus, FinancialStatus
from bus.contracts.money import minor_units

PAYMENT_TOPICS: dict[str, str] = {
    "orders.placed.v1": "OrderPlaced",
    "orders.refunds.v1": "OrderRefunded",
    "orders.disputes.v1": "DisputeUpdated",
    "orders.cancellations.v1": "OrderCancelled",
}
"""The topics an order's payment facts come from → the event each carries."""

OPEN_DISPUTES = frozenset({DisputeStatus.NEEDS_RESPONSE.value, DisputeStatus.UNDER_REVIEW.value,
                           DisputeStatus.UNKNOWN.value})
TAKEN_BACK = frozenset({DisputeStatus.LOST.value, DisputeStatus.ACCEPTED.value})
NOT_CAPTURED = frozenset({FinancialStatus.PENDING.value, FinancialStatus.AUTHORIZED.value})

Kind = Literal["placed", "refunded", "disputed", "cancelled"]


@dataclass(frozen=True)
class PaymentFact:
    """What one event says about the money of its order.

    Attributes:
        kind: placed, refunded, disputed or cancelled.
        ref: the refund or dispute id (a repeat of a refund is recognised by it).
        amounts: (amount, currency) pairs: the order's or refund's total (shop first, then the
            presentment one), or the disputed amount.
        status: the order's financial status (placed) or the dispute's status (disputed).
        reason: the dispute's reason.
    """

    kind: Kind
    ref: str | None = None
    amounts: tuple[tuple[Decimal, str], ...] = ()
    status: str | None = None
    reason: str | None = None


def fact_text(fact: PaymentFact) -> str:
    """The fact as compact JSON text (how the console's index keeps it beside the event)."""
    return json.dumps({"kind": fact.kind, "ref": fact.ref, "status": fact.status, "reason": fact.reason,
                       "amounts": [[str(a), c] for a, c in fact.amounts]}, ensure_ascii=False,
                      separators=(",", ":"))


def fact_from_text(text: str | None) -> PaymentFact | None:
    """The fact :func:`fact_text` wrote, or None for any other text (or none)."""
    try:
        data = json.loads(text or "")
        return PaymentFact(data["kind"], data["ref"], tuple((Decimal(a), c) for a, c in data["amounts"]),
                           data["status"], data["reason"])
    except (ValueError, TypeError, KeyError, ArithmeticError):
        return None


def _money_set(value: dict[str, Any]) -> tuple[tuple[Decimal, str], ...]:
    pairs = [value["shop"], value.get("presentment")]
    return tuple((Decimal(str(p["amount"])), p["currency"]) for p in pairs if p)


def _enum(value: Any) -> str:
    return str(getattr(value, "value", value))


def fact_of(event: str, value: dict[str, Any]) -> PaymentFact:
    """The payment fact of a decoded event (Avro dict) named ``event`` (see PAYMENT_TOPICS).

    Raises:
        KeyError: ``value`` lacks a field of its event, or ``event`` is not a payment event.
    """
    if event == "OrderPlaced":
        return PaymentFact("placed", amounts=_money_set(value["totals"]["total"]),
                           status=_enum(value["financial_status"]))
    if event == "OrderRefunded":
        return PaymentFact("refunded", ref=value["refund_id"], amounts=_money_set(value["total"]))
    if event == "DisputeUpdated":
        amount = value["amount"]
        return PaymentFact("disputed", ref=value["dispute_id"], status=_enum(value["status"]),
                           amounts=((Decimal(str(amount["amount"])), amount["currency"]),),
                           reason=value.get("reason"))
    if event == "OrderCancelled":
        return PaymentFact("cancelled")
    raise KeyError(event)


def _text(amount: Decimal, currency: str) -> str:
    return f"{amount.quantize(Decimal(1).scaleb(-minor_units(currency)))}"


@dataclass(frozen=True)
class Payment:
    """An order's payment status and the figures behind it.

    Attributes:
        status: PAID, PARTIALLY_REFUNDED, REFUNDED, DISPUTED, or the order's own financial status
            while nothing changed it (PENDING, AUTHORIZED...), VOIDED when cancelled uncaptured.
        total: the order's total per currency (shop currency first), empty when not known.
        refunded: money given back per currency (refunds, and disputes lost or accepted).
        disputes: the open disputes' (reason, amount, currency, status).
        cancelled: an OrderCancelled was seen.
    """

    status: str
    total: tuple[tuple[Decimal, str], ...] = ()
    refunded: dict[str, Decimal] = field(default_factory=dict)
    disputes: tuple[tuple[str | None, Decimal, str, str], ...] = ()
    cancelled: bool = False

    def describe(self) -> str:
        """In words: ``partially refunded (19.31 of 38.63 USD refunded)``."""
        words = self.status.lower().replace("_", " ")
        parts = []
        for reason, amount, currency, state in self.disputes:
            why = (reason or "no reason").replace("_", " ")
            parts.append(f"{why}, {_text(amount, currency)} {currency}, {state.lower().replace('_', ' ')}")
        for n, (amount, currency) in enumerate(self.total):
            given = self.refunded.get(currency)
            if given is not None:
                parts.append(f"{_text(given, currency)} of {_text(amount, currency)} {currency} refunded")
            elif n == 0:  # the total alone: "paid (38.63 USD)", "disputed (...; order total 38.63 USD)"
                parts.append(f"{'order total ' if parts else ''}{_text(amount, currency)} {currency}")
        if not self.total:
            parts += [f"{_text(a, c)} {c} refunded" for c, a in self.refunded.items()]
            if self.refunded:
                parts.append("the order's total is not known")
        if self.cancelled:
            parts.append("order cancelled")
        return f"{words} ({'; '.join(parts)})" if parts else words


def derive(facts: Iterable[PaymentFact]) -> Payment | None:
    """The payment status from an order's facts, oldest first; None when there are none."""
    facts = list(facts)
    if not facts:
        return None
    placed = next((f for f in facts if f.kind == "placed"), None)
    refunds = {f.ref: f for f in facts if f.kind == "refunded"}  # a repeat counts once
    disputes: dict[str | None, PaymentFact] = {}
    for fact in facts:
        if fact.kind == "disputed":
            disputes[fact.ref] = fact  # the latest status of each dispute
    cancelled = any(f.kind == "cancelled" for f in facts)
    refunded: dict[str, Decimal] = {}
    for fact in [*refunds.values(), *(d for d in disputes.values() if d.status in TAKEN_BACK)]:
        for amount, currency in fact.amounts:
            refunded[currency] = refunded.get(currency, Decimal(0)) + amount
    total = placed.amounts if placed else ()
    status = placed.status if placed and placed.status else FinancialStatus.PAID.value
    if refunded:
        shop_total = total[0] if total else None
        given = refunded.get(shop_total[1]) if shop_total else None
        if shop_total and given is not None and given >= shop_total[0]:
            status = FinancialStatus.REFUNDED.value
        elif any(amount > 0 for amount in refunded.values()):
            status = FinancialStatus.PARTIALLY_REFUNDED.value
    elif cancelled and status in NOT_CAPTURED:
        status = FinancialStatus.VOIDED.value
    open_disputes = tuple((d.reason, *d.amounts[0], str(d.status)) for d in disputes.values()
                          if d.status in OPEN_DISPUTES)
    if open_disputes:
        status = FinancialStatus.DISPUTED.value
    return Payment(status, total, refunded, open_disputes, cancelled)
