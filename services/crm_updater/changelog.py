"""crm-updater's Kafka-backed state: the internal topics, their Avro schemas, and reading them back.

* ``crm-updater.customers.changelog`` (compacted, key = customer key): the whole
  :class:`~services.crm_updater.profiles.CustomerState` after every change, each counted order
  with its refunds (their ids are the refunds' dedupe keys) and whether it was cancelled (both
  added with defaults: records written before them read as no refund, not cancelled). Read whole on start,
  the last record per key wins, so the state survives restarts and SIGKILL with nothing on disk.
* ``crm-updater.contacts.outbox`` (key = customer key): one :data:`CONTACT_UPSERT` per change,
  the HubSpot input as it stood then; the batch flusher consumes it (its committed offsets are
  the upsert progress) and dead-letters a rejected one untouched.

Both are written in the same exactly-once transaction as the consumed offsets, so the state,
the outbox and the input positions always agree. The schemas are internal (not contracts);
they are registered under ``<topic>-value`` like every value, so ``ecombus tail`` reads them.
"""

from __future__ import annotations

from typing import Any

from bus.contracts import default_schema_set
from bus.contracts import models as m
from services.crm_updater.profiles import CountedOrder, CustomerState, Refund

NAMESPACE = "ecombus.internal.crm_updater"
_OPTIONAL_STRING = {"type": ["null", "string"], "default": None}
_MILLIS = {"type": "long", "logicalType": "timestamp-millis"}
_DECIMAL = {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 4}

CUSTOMER_STATE: dict[str, Any] = {
    "type": "record", "name": "CustomerState", "namespace": NAMESPACE,
    "doc": "crm-updater's state of one customer (internal; key = lower-cased email).",
    "fields": [
        {"name": "customer_key", "type": "string"},
        {"name": "email", "type": "string"},
        {"name": "first_name", **_OPTIONAL_STRING},
        {"name": "last_name", **_OPTIONAL_STRING},
        {"name": "phone", **_OPTIONAL_STRING},
        {"name": "address", "type": ["null", default_schema_set().expanded("Address")], "default": None},
        {"name": "accepts_marketing", "type": ["null", "boolean"], "default": None},
        {"name": "locale", **_OPTIONAL_STRING},
        {"name": "profile_at", "type": ["null", _MILLIS], "default": None},
        {"name": "orders", "type": {"type": "array", "items": {
            "type": "record", "name": "CountedOrder", "fields": [
                {"name": "order_id", "type": "string"},
                {"name": "currency", "type": "string"},
                {"name": "total", "type": _DECIMAL},
                {"name": "placed_at", "type": _MILLIS},
                {"name": "cancelled", "type": "boolean", "default": False},
                {"name": "refunds", "default": [], "type": {"type": "array", "items": {
                    "type": "record", "name": "Refund", "fields": [
                        {"name": "refund_id", "type": "string"},
                        {"name": "amount", "type": _DECIMAL},
                        {"name": "refunded_at", "type": _MILLIS}]}}}]}}},
    ],
}

CONTACT_UPSERT: dict[str, Any] = {
    "type": "record", "name": "ContactUpsert", "namespace": NAMESPACE,
    "doc": "One HubSpot batch-upsert input (internal; key = lower-cased email).",
    "fields": [
        {"name": "id", "type": "string", "doc": "The email address."},
        {"name": "idProperty", "type": "string"},
        {"name": "properties", "type": {"type": "map", "values": "string"}},
    ],
}


def state_record(state: CustomerState) -> dict[str, Any]:
    """The changelog value of ``state``."""
    return {
        "customer_key": state.customer_key, "email": state.email, "first_name": state.first_name,
        "last_name": state.last_name, "phone": state.phone,
        "address": state.address.to_avro() if state.address else None,
        "accepts_marketing": state.accepts_marketing, "locale": state.locale,
        "profile_at": state.profile_at,
        "orders": [{"order_id": o.order_id, "currency": o.currency, "total": o.total,
                    "placed_at": o.placed_at, "cancelled": o.cancelled,
                    "refunds": [{"refund_id": r.refund_id, "amount": r.amount, "refunded_at": r.refunded_at}
                                for r in o.refunds.values()]}
                   for o in state.orders.values()],
    }


def state_from_record(record: dict[str, Any]) -> CustomerState:
    """The state a changelog value describes."""
    orders = [CountedOrder(o["order_id"], o["currency"], o["total"], o["placed_at"],
                           cancelled=o.get("cancelled", False),
                           refunds={r["refund_id"]: Refund(r["refund_id"], r["amount"], r["refunded_at"])
                                    for r in o.get("refunds", [])})
              for o in record["orders"]]
    return CustomerState(
        customer_key=record["customer_key"], email=record["email"],
        first_name=record.get("first_name"), last_name=record.get("last_name"),
        phone=record.get("phone"),
        address=m.Address.from_avro(record["address"]) if record.get("address") else None,
        accepts_marketing=record.get("accepts_marketing"), locale=record.get("locale"),
        profile_at=record.get("profile_at"), orders={o.order_id: o for o in orders})


def contact_upsert(state: CustomerState) -> dict[str, Any]:
    """The outbox value (a HubSpot batch input) for ``state`` as it is now."""
    return {"id": state.email, "idProperty": "email", "properties": state.contact_properties()}
