"""inventory-sync's wiring: exactly-once always, the shipped SKU map, a missing one refused at start, its
parts declared on the assembly (consumer, pusher, the pusher's producer closed), its series on the
assembly's registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.assembly import Assembly
from bus.errors import ConfigError
from bus.runtime.codec import JsonCodec
from bus.runtime.service import RuntimeSettings
from services.inventory_sync import SERVICE
from services.inventory_sync.settings import InventorySyncSettings
from services.inventory_sync.wiring import build
from tests.unit.runtime.fakes import UNREACHABLE_KAFKA


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
