"""Which storefront inventory item and location each ERP SKU and location is.

The SKU table is a CSV file (``deploy/sku-map.csv`` by default, ``ECOMBUS_INVENTORY_SKU_MAP``)
with the columns ``sku,inventory_item_id``; ERP locations map to storefront location ids through
``ECOMBUS_INVENTORY_LOCATIONS``. A SKU or location missing from them is a permanent error
(:class:`UnknownStockItem`): the level is dead-lettered with the reason, never skipped silently;
add the row and ``ecombus dlq replay inventory-sync``.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bus.errors import ConfigError, PermanentError


class UnknownStockItem(PermanentError):
    """An ERP SKU or location that the storefront does not know."""


@dataclass(frozen=True)
class StorefrontItem:
    """Where one ERP SKU at one ERP location lives on the storefront."""

    inventory_item_id: int
    location_id: int


class SkuMap:
    """ERP (sku, location) → :class:`StorefrontItem`."""

    def __init__(self, items: Mapping[str, int], locations: Mapping[str, int], source: str = "") -> None:
        self.items, self.locations, self.source = dict(items), dict(locations), source

    @classmethod
    def load(cls, path: Path, locations: Mapping[str, int]) -> SkuMap:
        """Read the CSV (UTF-8, a BOM is fine).

        Raises:
            ConfigError: missing file, missing columns, a bad id or a SKU listed twice.
        """
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise ConfigError(f"ECOMBUS_INVENTORY_SKU_MAP: cannot read {path}: {exc.strerror}") from exc
        rows = csv.DictReader(text.splitlines())
        if not {"sku", "inventory_item_id"} <= set(rows.fieldnames or []):
            raise ConfigError(f"ECOMBUS_INVENTORY_SKU_MAP: {path} needs the columns sku,inventory_item_id")
        items: dict[str, int] = {}
        for number, row in enumerate(rows, start=2):
            sku = (row["sku"] or "").strip()
            if not sku:
                continue
            if sku in items:
                raise ConfigError(f"ECOMBUS_INVENTORY_SKU_MAP: {path}:{number}: {sku} is listed twice")
            try:
                items[sku] = int(row["inventory_item_id"])
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"ECOMBUS_INVENTORY_SKU_MAP: {path}:{number}: inventory_item_id "
                                  f"{row['inventory_item_id']!r} is not a number") from exc
        return cls(items, locations, str(path))

    def item(self, sku: str, location: str) -> StorefrontItem:
        """The storefront item of ``sku`` at ``location``.

        Raises:
            UnknownStockItem: the SKU or the location is not mapped (the message says where to).
        """
        if sku not in self.items:
            raise UnknownStockItem(f"unknown SKU {sku!r}: no storefront inventory item for it in "
                                   f"{self.source or 'the SKU map'} (ECOMBUS_INVENTORY_SKU_MAP)")
        if location not in self.locations:
            raise UnknownStockItem(f"unknown location {location!r} of SKU {sku!r}: not mapped to a "
                                   "storefront location (ECOMBUS_INVENTORY_LOCATIONS)")
        return StorefrontItem(self.items[sku], self.locations[location])

    def erp_location(self, named: str | None) -> str | None:
        """The ERP location code of a location an after-sale event names: an ERP code as it is, a
        storefront location id (what Shopify's refunds and returns carry) as its mapped code; None
        for anything else (the units then come back where the order line was held)."""
        if named is None or named in self.locations:
            return named
        return next((code for code, location_id in self.locations.items() if str(location_id) == named), None)
