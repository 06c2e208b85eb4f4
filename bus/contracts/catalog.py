"""Which event each topic carries, and the registry subject it is registered under.

Subjects follow Confluent's TopicNameStrategy (``<topic>-value``). A test checks this table
against ``deploy/topics.yaml``: every non-DLQ topic there has an event here and vice versa.
"""

from __future__ import annotations

from typing import Any

from bus.contracts.schemas import SchemaSet, default_schema_set
from bus.errors import ConfigError

TOPIC_EVENTS: dict[str, str] = {
    "orders.placed.v1": "OrderPlaced",
    "orders.review.v1": "OrderPlaced",
    "orders.review.disputes.v1": "DisputeUpdated",
    "orders.status.v1": "OrderStatusChanged",
    "orders.cancellations.v1": "OrderCancelled",
    "orders.refunds.v1": "OrderRefunded",
    "orders.returns.v1": "ReturnUpdated",
    "orders.disputes.v1": "DisputeUpdated",
    "inventory.levels.v1": "StockLevelChanged",
    "inventory.reservations.v1": "StockReservation",
    "customers.profiles.v1": "CustomerUpserted",
    "shipments.tracking.v1": "ShipmentUpdated",
    "bus.audit.v1": "ProcessingRecord",
    "intake.storefronts.v1": "RawDelivery",
    "intake.carriers.v1": "RawDelivery",
}
"""topic → event (the short name of a top-level ``schemas/<Event>.avsc``)."""

COMPATIBILITY = "FULL_TRANSITIVE"
"""The compatibility level of every subject of ours (schemas/README.md)."""


def subject_for(topic: str) -> str:
    """The value subject of ``topic`` under TopicNameStrategy."""
    return f"{topic}-value"


def event_for(topic: str) -> str:
    """The event name a topic carries.

    Raises:
        ConfigError: the topic carries no Avro event of ours.
    """
    try:
        return TOPIC_EVENTS[topic]
    except KeyError:
        raise ConfigError(f"topic {topic!r} has no event schema; known: {', '.join(TOPIC_EVENTS)}") from None


def schema_for_topic(topic: str, schemas: SchemaSet | None = None) -> dict[str, Any]:
    """The expanded (self-contained) value schema of ``topic``."""
    return (schemas or default_schema_set()).expanded(event_for(topic))
