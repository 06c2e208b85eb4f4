"""The Money contract's currencies: ISO 4217 codes and minor units, used by every service."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bus.contracts.money import ISO_4217, MINOR_UNITS, minor_units
from services.router.money import format_money
from simulators.storefront.orders import quantize


@pytest.mark.parametrize(("currency", "places"), [
    ("USD", 2), ("EUR", 2), ("JPY", 0), ("jpy", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), ("TND", 3),
])
def test_minor_units_follow_iso_4217(currency: str, places: int) -> None:
    assert minor_units(currency) == places


def test_every_listed_currency_is_an_active_iso_4217_code() -> None:
    assert set(MINOR_UNITS) <= ISO_4217
    assert {"USD", "JPY", "KWD"} <= ISO_4217 and "YEN" not in ISO_4217


def test_the_router_and_the_simulator_round_by_the_same_table() -> None:
    assert (format_money(Decimal("2650.4"), "JPY"), format_money(Decimal("12.3456"), "KWD")) == (
        "2650", "12.346")
    assert (quantize(Decimal("2650.4"), "JPY"), quantize(Decimal("12.3454"), "KWD")) == (
        Decimal("2650"), Decimal("12.345"))
    assert format_money(Decimal("17.8"), "USD") == "17.80"
