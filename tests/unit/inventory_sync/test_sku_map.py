"""The SKU map: CSV with a BOM, errors naming the setting and line, unknown SKUs permanent."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.errors import ConfigError, PermanentError
from services.inventory_sync.sku_map import SkuMap, StorefrontItem, UnknownStockItem

LOCATIONS = {"TOKYO-1": 655441491, "LA-1": 655441492}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sku-map.csv"
    path.write_bytes(text.encode("utf-8-sig"))
    return path


def test_shipped_map_matches_the_storefront_simulator_catalog() -> None:
    from simulators.storefront.state import CATALOG
    from simulators.storefront.state import LOCATIONS as SIM_LOCATIONS

    shipped = SkuMap.load(Path(__file__).resolve().parents[3] / "deploy" / "sku-map.csv", SIM_LOCATIONS)
    assert shipped.items == CATALOG


def test_lookup_and_unknown_sku_or_location(tmp_path: Path) -> None:
    sku_map = SkuMap.load(_write(tmp_path, "sku,inventory_item_id\nMATCHA-40G,808950810\n\n"), LOCATIONS)
    assert sku_map.item("MATCHA-40G", "LA-1") == StorefrontItem(808950810, 655441492)
    with pytest.raises(UnknownStockItem, match=r"unknown SKU 'GYOKURO-20G'.*sku-map.csv") as caught:
        sku_map.item("GYOKURO-20G", "LA-1")
    assert isinstance(caught.value, PermanentError), "dead-lettered, never retried"
    with pytest.raises(UnknownStockItem, match="ECOMBUS_INVENTORY_LOCATIONS"):
        sku_map.item("MATCHA-40G", "OSAKA-2")


@pytest.mark.parametrize(("text", "error"), [
    ("code,item\nA,1\n", "needs the columns"),
    ("sku,inventory_item_id\nA,1\nA,2\n", r":3: A is listed twice"),
    ("sku,inventory_item_id\nA,x1\n", r":2: inventory_item_id 'x1' is not a number"),
])
def test_bad_files_name_the_setting_and_line(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error) as caught:
        SkuMap.load(_write(tmp_path, text), LOCATIONS)
    assert "ECOMBUS_INVENTORY_SKU_MAP" in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        SkuMap.load(tmp_path / "absent.csv", LOCATIONS)
