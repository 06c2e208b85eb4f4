"""inventory-sync's Kafka-backed state: what is written where, and how it is read back.

* ``inventory-sync.stock.changelog`` (compacted, key = sku): the whole
  :class:`~services.inventory_sync.stock.Position` after every change (:data:`POSITION`),
  including the orders waiting for that SKU's first level.
* ``inventory-sync.orders.changelog`` (compacted, key = order_id): each decided order's
  :class:`~services.inventory_sync.aftersale.OrderLedger` (:data:`LEDGER`): its lines as reserved,
  the units given back since, and the after-sale events applied (their dedupe keys).
* ``inventory.reservations.v1`` (key = order_id): the decisions themselves; their keys are the
  orders already decided.

Both are written in the exactly-once transaction that also commits the consumed offsets, so
reading both to their ends after fencing the previous instance gives exactly the state that
matches the committed input positions. The position schema is internal (not a contract) and
is registered under ``<topic>-value`` like any value, so ``ecombus tail`` reads it.
"""

from __future__ import annotations

from typing import Any

from services.inventory_sync.aftersale import LedgerLine, OrderLedger
from services.inventory_sync.stock import Credit, Hold, Level, OrderRequest, Position

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
        {"name": "credits", "default": [], "type": {"type": "array", "items": {
            "type": "record", "name": "Credit", "fields": [
                {"name": "key", "type": "string"},
                {"name": "location", "type": "string"},
                {"name": "quantity", "type": "int"},
                {"name": "at", "type": _MILLIS},
                {"name": "on_hand", "type": "boolean"}]}}},
    ],
}

LEDGER: dict[str, Any] = {
    "type": "record", "name": "OrderLedger", "namespace": "ecombus.internal.inventory_sync",
    "doc": "inventory-sync's after-sale state of one decided order (internal; key = order_id).",
    "fields": [
        {"name": "order_id", "type": "string"},
        {"name": "lines", "type": {"type": "array", "items": {
            "type": "record", "name": "LedgerLine", "fields": [
                {"name": "line_id", "type": "string"},
                {"name": "sku", "type": "string"},
                {"name": "ordered", "type": "int"},
                {"name": "reserved", "type": "int"},
                {"name": "location", "type": ["null", "string"], "default": None},
                {"name": "released", "type": "int", "default": 0},
                {"name": "refunded_back", "type": "int", "default": 0},
                {"name": "received_back", "type": "int", "default": 0}]}}},
        {"name": "applied", "type": {"type": "array", "items": "string"}, "default": []},
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
        "credits": [{"key": c.key, "location": c.location, "quantity": c.quantity, "at": c.at,
                     "on_hand": c.on_hand} for c in position.credits.values()],
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
    credits = [Credit(c["key"], c["location"], c["quantity"], c["at"], c["on_hand"])
               for c in record.get("credits", [])]
    return Position(record["sku"], levels, {(h.order_id, h.line_id): h for h in holds},
                    {w.order_id: w for w in waiting}, {c.key: c for c in credits})


def ledger_record(ledger: OrderLedger) -> dict[str, Any]:
    """The changelog value of ``ledger``."""
    return {"order_id": ledger.order_id, "applied": sorted(ledger.applied),
            "lines": [{"line_id": ln.line_id, "sku": ln.sku, "ordered": ln.ordered, "reserved": ln.reserved,
                       "location": ln.location, "released": ln.released, "refunded_back": ln.refunded_back,
                       "received_back": ln.received_back} for ln in ledger.lines.values()]}


def ledger_from_record(record: dict[str, Any]) -> OrderLedger:
    """The ledger a changelog value describes."""
    lines = [LedgerLine(ln["line_id"], ln["sku"], ln["ordered"], ln["reserved"], ln.get("location"),
                        ln.get("released", 0), ln.get("refunded_back", 0), ln.get("received_back", 0))
             for ln in record["lines"]]
    return OrderLedger(record["order_id"], {ln.line_id: ln for ln in lines}, set(record.get("applied", [])))
