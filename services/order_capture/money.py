"""Money as the platforms send it, turned into exact Money/MoneySet values.

Amounts arrive as strings (``"17.80"``), integers or JSON fractions already parsed to Decimal
(:func:`bus.webhooks.body.parse_json_object`); never through a float. Currency codes are
checked against ISO 4217. An amount keeps the digits it was sent with: minor units differ by
currency (JPY none, KWD three) and platforms send more (BigCommerce ``"24.0000"``); only more
than the contract's four decimal places, or more than its eighteen digits, is refused.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from bus.contracts import models as m
from bus.webhooks.errors import MalformedBody

_ACTIVE_CODES = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP
BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB
EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR
MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB
RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD
TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG
XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG ZWL
"""
ISO_4217 = frozenset(_ACTIVE_CODES.split())
"""Active ISO 4217 alphabetic codes (funds and precious metals included)."""

MAX_SCALE = 4
MAX_DIGITS = 18
"""The contract's Avro decimal: precision 18, scale 4."""


def currency(code: Any, what: str = "currency") -> str:
    """An ISO 4217 code as sent (upper case required), or MalformedBody."""
    if not isinstance(code, str) or code not in ISO_4217:
        raise MalformedBody(f"{what} {code!r} is not an ISO 4217 currency code")
    return code


def amount(value: Any, what: str = "amount") -> Decimal:
    """An exact amount from a string, an int or a Decimal; MalformedBody for anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise MalformedBody(f"{what} {value!r} is not a decimal amount")
    try:
        parsed = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise MalformedBody(f"{what} {value!r} is not a decimal amount") from None
    if not parsed.is_finite():
        raise MalformedBody(f"{what} {value!r} is not a finite amount")
    exponent = parsed.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > MAX_SCALE:
        raise MalformedBody(f"{what} {value!r} has more than {MAX_SCALE} decimal places")
    if parsed.adjusted() >= MAX_DIGITS - MAX_SCALE:
        raise MalformedBody(f"{what} {value!r} is too large")
    return parsed


def money(value: Any, code: Any, what: str = "amount") -> m.Money:
    return m.Money(amount=amount(value, what), currency=currency(code, f"{what} currency"))


def money_set(shop: m.Money, presentment: m.Money | None = None) -> m.MoneySet:
    """A MoneySet; the presentment amount is dropped when it is in the shop's currency."""
    if presentment is not None and presentment.currency == shop.currency:
        presentment = None
    return m.MoneySet(shop=shop, presentment=presentment)
