"""inventory-sync's wiring: exactly-once always, the shipped SKU map, a missing one refused at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.errors import ConfigError
from bus.runtime.codec import JsonCodec
from bus.runtime.service import RuntimeSettings
from bus.settings import KafkaSettings
from services.inventory_sync.settings import InventorySyncSettings
from services.inventory_sync.wiring import build


def test_build_wires_without_touching_the_network() -> None:
    sync = build(InventorySyncSettings(), RuntimeSettings(), KafkaSettings(), codec=JsonCodec())
    assert sync.runtime.exactly_once
    assert sync.service.handlers.topics == ["inventory.levels.v1", "orders.placed.v1"]
    assert sync.pusher.group_id == "ecombus.inventory-sync.storefront"
    assert sync.pusher.sku_map.item("MATCHA-40G", "TOKYO-1").inventory_item_id == 808950810


def test_a_missing_sku_map_stops_it_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ECOMBUS_INVENTORY_SKU_MAP"):
        build(InventorySyncSettings(sku_map=tmp_path / "none.csv"), RuntimeSettings(), KafkaSettings(),
              codec=JsonCodec())
