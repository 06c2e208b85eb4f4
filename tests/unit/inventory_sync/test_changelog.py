"""The internal position schema carries levels and holds exactly."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from services.inventory_sync.allocation import Outcome, StockBook
from services.inventory_sync.changelog import POSITION, position_from_record, position_record
from services.inventory_sync.stock import OrderRequest
from tests.unit.inventory_sync.stock_events import later, level, order


def test_position_survives_the_changelog_schema() -> None:
    book = StockBook(timedelta(minutes=15))
    for event in (level("MATCHA-40G", "TOKYO-1", 10, reserved=2), level("MATCHA-40G", "LA-1", 3)):
        book.apply_level(event, later(0), ("levels", 0, 0), Outcome())
    book.reserve(OrderRequest.of(order(1, ("MATCHA-40G", 4), ("MATCHA-40G", 7)), later(1)), later(1),
                 ("orders", 0, 0), Outcome())
    book.reserve(OrderRequest.of(order(2, ("MATCHA-40G", 1), ("BOWL-CHAWAN", 1)), later(1)), later(1),
                 ("orders", 0, 1), Outcome())
    book.reserve(OrderRequest.of(order(3, ("BOWL-CHAWAN", 1)), later(1)), later(1), ("orders", 0, 2),
                 Outcome())
    position = book.positions["MATCHA-40G"]
    schema = parse_schema(POSITION)
    out = BytesIO()
    schemaless_writer(out, schema, position_record(position))
    out.seek(0)
    restored = position_from_record(schemaless_reader(out, schema))  # type: ignore[arg-type]
    assert restored == position
    assert (restored.sellable("TOKYO-1"), restored.sellable("LA-1")) == (0, 3)
    waiting = book.positions["BOWL-CHAWAN"]
    out = BytesIO()
    schemaless_writer(out, schema, position_record(waiting))
    out.seek(0)
    assert position_from_record(schemaless_reader(out, schema)) == waiting  # type: ignore[arg-type]
    assert len(waiting.waiting) == 2, "orders waiting for the first level survive too"
