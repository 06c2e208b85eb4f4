"""The cXML credit memo of a refund: negative exact amounts, payloadID from the event id, and
the order referenced as the ERP knows it; read back by the ERP side's reader."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from bus.contracts import models as m
from bus.contracts.examples import examples
from bus.errors import FormatError
from services.router.formats.cxml_credit_memo import credit_memo, erp_order_reference, read_credit_memo


def refund() -> m.OrderRefunded:
    event = examples()["OrderRefunded"]
    assert isinstance(event, m.OrderRefunded)
    return event


def test_a_refund_round_trips_as_a_credit_memo_with_negative_exact_amounts() -> None:
    document = credit_memo(refund().to_avro())
    assert b'purpose="creditMemo"' in document
    read = read_credit_memo(document)
    assert read["payload_id"] == "shopify:refund:509562969@ecombus"
    assert (read["credit_memo_id"], read["order_id"]) == ("SHOP-CM-509562969", "SHOP-6120004415")
    assert (read["net_amount"], read["tax"], read["shipping"], read["currency"]) == (
        "-19.31", "-1.51", "0.00", "USD")
    assert read["lines"] == [{"quantity": -1, "sku": "MATCHA-40G", "amount": "-17.80"}]
    assert read["comments"] == "the tin arrived dented"


def test_a_kwd_refund_keeps_three_decimals_and_a_shipping_only_refund_has_no_items() -> None:
    kwd = m.MoneySet(shop=m.Money(amount=Decimal("4.125"), currency="KWD"))
    event = replace(refund(), currency="KWD", lines=[], tax=None, shipping=kwd, total=kwd)
    read = read_credit_memo(credit_memo(event.to_avro()))
    assert (read["net_amount"], read["shipping"], read["tax"]) == ("-4.125", "-4.125", "0.000")
    assert read["lines"] == []


def test_the_order_reference_uses_the_order_number_when_the_event_has_one() -> None:
    woo = {"meta": {"source": {"platform": "woocommerce"}}, "order_id": "woocommerce:shop.example.de:727"}
    assert erp_order_reference(woo) == "WOO-727"
    assert erp_order_reference({**woo, "order_number": "#1042"}) == "WOO-1042"
    assert erp_order_reference({"meta": {"source": {"platform": "etsy"}}, "order_id": "etsy:s:9"}) == "ETSY-9"


def test_a_document_that_is_no_credit_memo_is_a_format_error() -> None:
    with pytest.raises(FormatError, match="not a cXML credit memo"):
        read_credit_memo(b"<cXML/>")
    broken = credit_memo(refund().to_avro()).replace(b'quantity="-1"', b'quantity="x"')
    with pytest.raises(FormatError, match="whole number"):
        read_credit_memo(broken)
