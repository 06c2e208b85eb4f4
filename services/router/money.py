"""Money as the outside world writes it: amounts with the currency's own number of decimals.

ISO 4217 minor units: most currencies have 2, JPY and KRW none, BHD/JOD/KWD/OMR/TND three.
Amounts stay :class:`~decimal.Decimal` (never float); rounding is half-up, as invoices do.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

MINOR_UNITS: dict[str, int] = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}
"""Currencies whose minor units differ from 2."""


def minor_units(currency: str) -> int:
    """Decimals of ``currency`` (2 unless listed in :data:`MINOR_UNITS`)."""
    return MINOR_UNITS.get(currency.upper(), 2)


def format_money(amount: Any, currency: str | None = None) -> str | None:
    """``amount`` as text with the currency's decimals, e.g. ``17.80`` USD, ``2650`` JPY.

    A null amount gives null; a missing currency means 2 decimals.
    """
    if amount is None:
        return None
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    places = minor_units(currency) if currency else 2
    return str(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
