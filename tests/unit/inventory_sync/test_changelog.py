"""The internal position schema carries levels and holds exactly."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from services.inventory_sync.changelog import POSITION, position_from_record, position_record
from services.inventory_sync.stock import StockBook
from tests.unit.inventory_sync.stock_events import later, level, order


def test_position_survives_the_changelog_schema() -> None:
    book = StockBook(timedelta(minutes=15))
    book.apply_level(level("MATCHA-40G", "TOKYO-1", 10, reserved=2))
    book.apply_level(level("MATCHA-40G", "LA-1", 3))
    book.reserve(order(1, ("MATCHA-40G", 4), ("MATCHA-40G", 7)), later(1), later(1))
    position = book.positions["MATCHA-40G"]
    schema = parse_schema(POSITION)
    out = BytesIO()
    schemaless_writer(out, schema, position_record(position))
    out.seek(0)
    restored = position_from_record(schemaless_reader(out, schema))  # type: ignore[arg-type]
    assert restored == position
    assert (restored.sellable("TOKYO-1"), restored.sellable("LA-1")) == (0, 3)
