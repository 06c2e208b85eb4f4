"""inventory-sync's Kafka-backed state: what is written where, and how it is read back.

* ``inventory-sync.stock.changelog`` (compacted, key = sku): the whole
  :class:`~services.inventory_sync.stock.Position` after every change (:data:`POSITION`),
  including the orders waiting for that SKU's first level.
* ``inventory.reservations.v1`` (key = order_id): the decisions themselves; their keys are the
  orders already decided.

Both are written in the exactly-once transaction that also commits the consumed offsets, so
reading both to their ends after fencing the previous instance gives exactly the state that
matches the committed input positions. The position schema is internal (not a contract) and
is registered under ``<topic>-value`` like any value, so ``ecombus tail`` reads it.
"""

from __future__ import annotations

from typing import Any

from services.inventory_sync.stock import Hold, Level, OrderRequest, Position

_MILLIS = {"type": "long", "logicalType": "timestamp-millis"}

POSITION: dict[str, Any] = {
    "type": "record", "name": "StockPosition", "namespace": "ecombus.internal.inventory_sync",
    "doc": "inventory-sync's state of one SKU (internal; key = sku).",
    "fields": [
        {"name": "sku", "type": "string"},
        {"name": "levels", "type": {"type": "array", "items": {
            "type": "record", "name": "LocationLevel", "fields": [
                {"name": "location", "type": "string"},
                {"name": "on_hand", "type": "int"},
                {"name": "available", "type": "int"},
                {"name": "reserved", "type": "int"},
                {"name": "as_of", "type": _MILLIS}]}}},
        {"name": "holds", "type": {"type": "array", "items": {
            "type": "record", "name": "Hold", "fields": [
                {"name": "order_id", "type": "string"},
                {"name": "line_id", "type": "string"},
                {"name": "location", "type": "string"},
                {"name": "quantity", "type": "int"},
                {"name": "held_at", "type": _MILLIS}]}}},
        {"name": "waiting", "default": [], "type": {"type": "array", "items": {
            "type": "record", "name": "WaitingOrder", "fields": [
                {"name": "order_id", "type": "string"},
                {"name": "event_id", "type": "string"},
                {"name": "correlation_id", "type": "string"},
                {"name": "arrived", "type": _MILLIS},
                {"name": "lines", "type": {"type": "array", "items": {
                    "type": "record", "name": "WaitingLine", "fields": [
                        {"name": "line_id", "type": "string"},
                        {"name": "sku", "type": "string"},
                        {"name": "quantity", "type": "int"}]}}}]}}},
    ],
}


def position_record(position: Position) -> dict[str, Any]:
    """The changelog value of ``position``."""
    return {
        "sku": position.sku,
        "levels": [{"location": loc, "on_hand": lv.on_hand, "available": lv.available,
                    "reserved": lv.reserved, "as_of": lv.as_of}
                   for loc, lv in sorted(position.levels.items())],
        "holds": [{"order_id": h.order_id, "line_id": h.line_id, "location": h.location,
                   "quantity": h.quantity, "held_at": h.held_at} for h in position.holds.values()],
        "waiting": [{"order_id": r.order_id, "event_id": r.event_id, "correlation_id": r.correlation_id,
                     "arrived": r.arrived, "lines": [{"line_id": line_id, "sku": sku, "quantity": qty}
                                                     for line_id, sku, qty in r.lines]}
                    for r in position.waiting.values()],
    }


def position_from_record(record: dict[str, Any]) -> Position:
    """The position a changelog value describes."""
    levels = {lv["location"]: Level(lv["on_hand"], lv["available"], lv["reserved"], lv["as_of"])
              for lv in record["levels"]}
    holds = [Hold(h["order_id"], h["line_id"], h["location"], h["quantity"], h["held_at"])
             for h in record["holds"]]
    waiting = [OrderRequest(w["order_id"], w["event_id"], w["correlation_id"], w["arrived"],
                            tuple((ln["line_id"], ln["sku"], ln["quantity"]) for ln in w["lines"]))
               for w in record.get("waiting", [])]
    return Position(record["sku"], levels, {(h.order_id, h.line_id): h for h in holds},
                    {w.order_id: w for w in waiting})
