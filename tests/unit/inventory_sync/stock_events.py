"""Events for the inventory-sync unit tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bus.contracts import models as m
from bus.contracts.examples import meta, order_placed

T0 = datetime(2025, 6, 3, 9, 0, tzinfo=UTC)


def level(sku: str, location: str, available: int, as_of: datetime = T0, on_hand: int | None = None,
          reserved: int = 0) -> m.StockLevelChanged:
    """An ERP count as the router publishes it."""
    on_hand = available + reserved if on_hand is None else on_hand
    return m.StockLevelChanged(meta=meta(f"erp:{sku}:{location}:{as_of.isoformat()}", platform="erp"),
                               sku=sku, location=location, on_hand=on_hand, available=available,
                               reserved=reserved, as_of=as_of)


def order(number: int, *lines: tuple[str, int]) -> m.OrderPlaced:
    """An order with the given (sku, quantity) lines."""
    base = order_placed(number)
    template = base.lines[0]
    return replace(base, lines=[replace(template, line_id=f"{number}-{i}", sku=sku, quantity=qty)
                                for i, (sku, qty) in enumerate(lines)])


def later(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)
