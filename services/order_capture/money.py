"""Money as the platforms send it, turned into exact Money/MoneySet values.

Amounts arrive as strings (``"17.80"``), integers or JSON fractions already parsed to Decimal
(:func:`bus.webhooks.body.parse_json_object`); never through a float. Currency codes are
checked against ISO 4217 (:data:`bus.contracts.money.ISO_4217`). An amount keeps the digits it
was sent with: minor units differ by currency (JPY none, KWD three) and platforms send more
(BigCommerce ``"24.0000"``); only more than the contract's four decimal places, or more than its
eighteen digits, is refused. Text must be plain ASCII decimal notation (``"-12.50"``): no
exponent, no digit group separators, no full-width or other non-ASCII digits (which
:class:`~decimal.Decimal` would otherwise accept). Refusals are :class:`~bus.errors.InvalidInput`
naming the field and what was expected, never quoting the value.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from bus.contracts import models as m
from bus.contracts.money import ISO_4217
from bus.errors import InvalidInput
from bus.webhooks.payload import json_type

MAX_SCALE = 4
MAX_DIGITS = 18
"""The contract's Avro decimal: precision 18, scale 4."""
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)


def currency(code: Any, what: str = "currency") -> str:
    """An ISO 4217 code as sent (upper case required).

    Raises:
        InvalidInput: not an active ISO 4217 code (the message names ``what``).
    """
    if not isinstance(code, str) or code not in ISO_4217:
        raise InvalidInput(f"{what} is not an ISO 4217 currency code", field=what)
    return code


def amount(value: Any, what: str = "amount") -> Decimal:
    """An exact amount from a string, an int or a Decimal.

    Raises:
        InvalidInput: not a finite decimal, more than four decimal places or too large (the message
            names ``what``).
    """
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise InvalidInput(f"{what} is a JSON {json_type(value)}, expected a decimal amount", field=what)
    if isinstance(value, str):
        value = value.strip()
        if len(value) > 2 * MAX_DIGITS or not _DECIMAL_TEXT.fullmatch(value):
            raise InvalidInput(f"{what} is not a decimal amount, expected text such as 17.80", field=what)
    try:
        parsed = Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern admits only what Decimal reads
        raise InvalidInput(f"{what} is not a decimal amount", field=what) from None
    if not parsed.is_finite():
        raise InvalidInput(f"{what} is not a finite amount", field=what)
    exponent = parsed.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > MAX_SCALE:
        raise InvalidInput(f"{what} has more than {MAX_SCALE} decimal places", field=what)
    if parsed.adjusted() >= MAX_DIGITS - MAX_SCALE:
        raise InvalidInput(f"{what} is too large, expected at most {MAX_DIGITS - MAX_SCALE} digits "
                           "before the decimal point", field=what)
    return parsed


def or_zero(value: Any) -> Any:
    """An optional amount: ``"0"`` when absent (null or empty), else ``value`` unchanged for
    :func:`amount` to check (a ``false`` or ``[]`` is refused there, not read as zero)."""
    return "0" if value is None or value == "" else value


def money(value: Any, code: Any, what: str = "amount") -> m.Money:
    """Money from an amount and a currency code (:func:`amount`, :func:`currency`)."""
    return m.Money(amount=amount(value, what), currency=currency(code, f"{what} currency"))


def money_set(shop: m.Money, presentment: m.Money | None = None) -> m.MoneySet:
    """A MoneySet; the presentment amount is dropped when it is in the shop's currency."""
    if presentment is not None and presentment.currency == shop.currency:
        presentment = None
    return m.MoneySet(shop=shop, presentment=presentment)
