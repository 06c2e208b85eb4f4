"""Money as the outside world writes it: amounts with the currency's own number of decimals.

The minor units come from the Money contract (:func:`bus.contracts.money.minor_units`).
Amounts stay :class:`~decimal.Decimal` (never float); rounding is half-up, as invoices do.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bus.contracts.money import DEFAULT_MINOR_UNITS, minor_units


def format_money(amount: Any, currency: str | None = None) -> str | None:
    """``amount`` as text with the currency's decimals, e.g. ``17.80`` USD, ``2650`` JPY.

    A null amount gives null; a missing currency means 2 decimals.
    """
    if amount is None:
        return None
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    places = minor_units(currency) if currency else DEFAULT_MINOR_UNITS
    return str(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


__all__ = ["format_money"]
