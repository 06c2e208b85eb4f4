"""inventory-sync's wiring: exactly-once always, the shipped SKU map, a missing one refused at start, its
parts declared on the assembly (consumer, pusher, the pusher's producer closed), its series on the
assembly's registry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import services.inventory_sync.wiring as wiring
from bus.assembly import Assembly
from bus.errors import ConfigError
from bus.runtime.codec import JsonCodec
from bus.runtime.service import RuntimeSettings
from services.inventory_sync import SERVICE
from services.inventory_sync.allocation import Outcome, StockBook
from services.inventory_sync.changelog import position_record
from services.inventory_sync.settings import InventorySyncSettings
from services.inventory_sync.stock import OrderRequest
from services.inventory_sync.wiring import build
from tests.unit.inventory_sync.stock_events import T0, later, order
from tests.unit.runtime.fakes import UNREACHABLE_KAFKA

SETTINGS = InventorySyncSettings()


def test_build_declares_the_parts_without_touching_the_network() -> None:
    assembly = Assembly(SERVICE, admin=("127.0.0.1", 0))
    sync = build(assembly, InventorySyncSettings(), RuntimeSettings(), UNREACHABLE_KAFKA, codec=JsonCodec())
    assert sync.runtime.exactly_once
    assert sync.service.settings.exactly_once, "the consumer loop runs with those settings"
    assert sync.service.handlers.topics == ["inventory.levels.v1", "orders.cancellations.v1",
                                            "orders.placed.v1", "orders.refunds.v1", "orders.returns.v1"]
    assert sync.pusher.group_id == "ecombus.inventory-sync.storefront"
    assert sync.pusher.sku_map.item("MATCHA-40G", "TOKYO-1").inventory_item_id == 808950810
    assert [name for name, _ in assembly.parts] == ["consumer", "storefront-pusher"]
    assert assembly.parts[0][1] is sync.service
    assert len(assembly.closers) == 1, "the pusher's producer is closed after the parts"
    assert (sync.service.metrics, sync.service.health) == (assembly.metrics, assembly.health)
    pending = assembly.registry.get_sample_value("ecombus_storefront_inventory_pending", {"service": SERVICE})
    assert pending == 0, "the pusher's series on the assembly's registry"


def test_a_missing_sku_map_stops_it_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ECOMBUS_INVENTORY_SKU_MAP"):
        build(Assembly(SERVICE, admin=("127.0.0.1", 0)), InventorySyncSettings(sku_map=tmp_path / "none.csv"),
              RuntimeSettings(), UNREACHABLE_KAFKA, codec=JsonCodec())


@dataclass
class _Record:
    """A record read back (key and value; the value is a token the fake codec knows)."""

    k: bytes
    v: bytes

    def key(self) -> bytes:
        return self.k

    def value(self) -> bytes:
        return self.v


class _Codec(JsonCodec):
    """Decodes the tokens of :class:`_Record` values to the changelog records they stand for."""

    def __init__(self, records: dict[bytes, Any]) -> None:
        self.records = records

    def decode(self, topic: str, data: bytes) -> Any:
        return self.records[data]


def test_the_read_back_parks_only_the_orders_the_latest_record_of_each_sku_holds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # found by the chaos suite: the changelog is read back record by record, a SKU's older records
    # included (compaction comes later); an order waiting in an older record but decided since was
    # parked again after a restart, and decided a second time (a second reservation and hold)
    book = StockBook(timedelta(minutes=15), timedelta(minutes=1))
    book.reserve(OrderRequest.of(order(1, ("GYOKURO-20G", 1)), T0), T0, ("orders", 0, 1), Outcome())
    book.reserve(OrderRequest.of(order(2, ("GYOKURO-20G", 1), ("MATCHA-40G", 1)), T0), T0, ("orders", 0, 2),
                 Outcome())
    older = position_record(book.positions["GYOKURO-20G"])
    book.expire(later(2), ("orders", 0, 3), Outcome())  # both decided; GYOKURO-20G waits for nobody now
    third = OrderRequest.of(order(3, ("MATCHA-40G", 1)), later(2))
    book.reserve(third, later(2), ("orders", 0, 4), Outcome())
    records = {b"1": older, b"2": position_record(book.positions["GYOKURO-20G"]),
               b"3": position_record(book.positions["MATCHA-40G"])}
    topics = {SETTINGS.changelog_topic: [_Record(b"GYOKURO-20G", b"1"), _Record(b"GYOKURO-20G", b"2"),
                                         _Record(b"MATCHA-40G", b"3")],
              SETTINGS.reservations_topic: [_Record(order(n).order_id.encode(), b"") for n in (1, 2)]}
    monkeypatch.setattr(wiring, "fence", lambda *args: None)
    monkeypatch.setattr(wiring, "ensure_topics", lambda *args: [])
    monkeypatch.setattr(wiring, "read_to_end", lambda client, topic, timeout: iter(topics.get(topic, [])))
    sync = build(Assembly(SERVICE, admin=("127.0.0.1", 0)), SETTINGS, RuntimeSettings(), UNREACHABLE_KAFKA,
                 codec=_Codec(records))
    assert sync.restore() == (2, 2)
    assert set(sync.book.parked) == {order(3).order_id}, "orders 1 and 2 were decided already"
