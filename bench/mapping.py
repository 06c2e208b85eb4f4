"""The map every Kafka→Kafka benchmark arm runs, written by hand (no dependencies: the Quix
Streams arm imports it from ``.venv-quix``)."""

from __future__ import annotations

from typing import Any


def accepted(order: dict[str, Any]) -> dict[str, Any]:
    """An OrderPlaced (Avro dict) becomes an OrderStatusChanged ACCEPTED."""
    meta = order["meta"]
    return {"meta": {"event_id": f"accepted:{meta['event_id']}", "occurred_at": meta["occurred_at"],
                     "source": {"platform": "ecombus", "system": "bench"},
                     "correlation_id": meta["correlation_id"], "causation_id": meta["event_id"]},
            "order_id": order["order_id"], "status": "ACCEPTED", "previous_status": "PLACED",
            "reason": None}
