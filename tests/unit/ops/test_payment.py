"""Payment status derived from an order's events (bus/ops/payment.py): partial and full refunds,
presentment currencies, disputes open, won and lost, cancellations, repeats."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from bus.contracts import models as m
from bus.contracts.examples import examples, order_placed
from bus.ops.payment import PaymentFact, derive, fact_of

ORDER = order_placed().to_avro()  # 38.63 USD, paid in JPY: 5750


def refund(refund_id: str = "509562969", usd: str = "19.31", jpy: str | None = "2875") -> PaymentFact:
    event = examples()["OrderRefunded"]
    assert isinstance(event, m.OrderRefunded)
    total = m.MoneySet(shop=m.Money(amount=Decimal(usd), currency="USD"),
                       presentment=None if jpy is None else m.Money(amount=Decimal(jpy), currency="JPY"))
    return fact_of("OrderRefunded", replace(event, refund_id=refund_id, total=total).to_avro())


def dispute(status: m.DisputeStatus, amount: str = "38.63", dispute_id: str = "598735659") -> PaymentFact:
    event = examples()["DisputeUpdated"]
    assert isinstance(event, m.DisputeUpdated)
    changed = replace(event, status=status, dispute_id=dispute_id,
                      amount=m.Money(amount=Decimal(amount), currency="USD"))
    return fact_of("DisputeUpdated", changed.to_avro())


PLACED = fact_of("OrderPlaced", ORDER)


def test_a_placed_paid_order_is_paid_with_its_total() -> None:
    payment = derive([PLACED])
    assert payment is not None and payment.status == "PAID"
    assert payment.describe() == "paid (38.63 USD)"
    assert derive([]) is None


def test_a_partial_refund_is_partially_refunded_in_both_currencies_decided_by_the_shop_one() -> None:
    payment = derive([PLACED, refund()])
    assert payment is not None and payment.status == "PARTIALLY_REFUNDED"
    assert payment.refunded == {"USD": Decimal("19.31"), "JPY": Decimal("2875")}
    assert payment.describe() == ("partially refunded (19.31 of 38.63 USD refunded; "
                                  "2875 of 5750 JPY refunded)")


def test_refunds_adding_up_to_the_total_exactly_make_it_refunded_and_a_repeat_counts_once() -> None:
    first, second = refund("1", "19.31", "2875"), refund("2", "19.32", "2876")
    assert derive([PLACED, first, first]).status == "PARTIALLY_REFUNDED"  # type: ignore[union-attr]
    payment = derive([PLACED, first, first, second])
    assert payment is not None and payment.status == "REFUNDED"
    assert payment.refunded["USD"] == Decimal("38.63")
    assert derive([PLACED, refund("1", "38.62", "5750")]).status == "PARTIALLY_REFUNDED"  # type: ignore[union-attr]


def test_the_presentment_currency_never_decides() -> None:
    # the whole JPY amount given back, one cent short in USD (rounding at the platform): partial
    payment = derive([PLACED, refund("1", "38.62", "5750")])
    assert payment is not None and payment.status == "PARTIALLY_REFUNDED"


def test_an_open_dispute_is_disputed_whatever_the_refunds_say() -> None:
    payment = derive([PLACED, refund(), dispute(m.DisputeStatus.NEEDS_RESPONSE, "19.32")])
    assert payment is not None and payment.status == "DISPUTED"
    assert payment.describe().startswith(
        "disputed (fraudulent, 19.32 USD, needs response; 19.31 of 38.63 USD refunded")
    under_review = derive([PLACED, dispute(m.DisputeStatus.UNDER_REVIEW)])
    assert under_review is not None and under_review.status == "DISPUTED"
    assert under_review.describe() == "disputed (fraudulent, 38.63 USD, under review; order total 38.63 USD)"


def test_a_won_dispute_goes_back_and_a_lost_one_counts_as_refunded() -> None:
    opened = dispute(m.DisputeStatus.NEEDS_RESPONSE)
    assert derive([PLACED, opened, dispute(m.DisputeStatus.WON)]).status == "PAID"  # type: ignore[union-attr]
    lost = derive([PLACED, opened, dispute(m.DisputeStatus.LOST)])
    assert lost is not None and (lost.status, lost.refunded) == ("REFUNDED", {"USD": Decimal("38.63")})
    part = derive([PLACED, dispute(m.DisputeStatus.ACCEPTED, "10.00")])
    assert part is not None and part.status == "PARTIALLY_REFUNDED"


def test_a_charge_refunded_dispute_adds_nothing_to_the_refund_it_comes_with() -> None:
    payment = derive([PLACED, dispute(m.DisputeStatus.NEEDS_RESPONSE),
                      dispute(m.DisputeStatus.CHARGE_REFUNDED), refund("1", "38.63", None)])
    assert payment is not None and payment.status == "REFUNDED"
    assert payment.refunded == {"USD": Decimal("38.63")}


def test_each_dispute_keeps_its_own_latest_status() -> None:
    payment = derive([PLACED, dispute(m.DisputeStatus.WON, dispute_id="a"),
                      dispute(m.DisputeStatus.NEEDS_RESPONSE, dispute_id="b")])
    assert payment is not None and payment.status == "DISPUTED"


@pytest.mark.parametrize(("financial", "expected"), [("PAID", "PAID"), ("AUTHORIZED", "VOIDED"),
                                                     ("PENDING", "VOIDED")])
def test_a_cancellation_voids_an_uncaptured_order_and_notes_a_paid_one(financial: str, expected: str) -> None:
    placed = fact_of("OrderPlaced", {**ORDER, "financial_status": financial})
    payment = derive([placed, fact_of("OrderCancelled", examples()["OrderCancelled"].to_avro())])
    assert payment is not None and payment.status == expected and payment.cancelled
    assert payment.describe().endswith("order cancelled)")


def test_kwd_and_jpy_keep_their_own_decimals_exactly() -> None:
    kwd = {**ORDER, "currency": "KWD", "totals": {**ORDER["totals"], "total": {
        "shop": {"amount": Decimal("12.3450"), "currency": "KWD"}, "presentment": None}}}
    given = PaymentFact("refunded", ref="r", amounts=((Decimal("12.344"), "KWD"),))
    payment = derive([fact_of("OrderPlaced", kwd), given])
    assert payment is not None and payment.status == "PARTIALLY_REFUNDED"
    assert payment.describe() == "partially refunded (12.344 of 12.345 KWD refunded)"


def test_refunds_without_the_order_say_its_total_is_unknown() -> None:
    payment = derive([refund()])
    assert payment is not None and payment.status == "PARTIALLY_REFUNDED"
    assert payment.describe() == ("partially refunded (19.31 USD refunded; 2875 JPY refunded; "
                                  "the order's total is not known)")
