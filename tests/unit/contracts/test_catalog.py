"""The topic → event table matches deploy/topics.yaml."""

from __future__ import annotations

import pytest

from bus import topics as topics_lib
from bus.contracts import TOPIC_EVENTS, default_schema_set, event_for, schema_for_topic, subject_for
from bus.errors import ConfigError


def test_every_declared_event_topic_has_a_schema_and_vice_versa() -> None:
    declared = {t.name for t in topics_lib.load_topics()
                if not t.name.startswith("dlq.") and not t.name.endswith((".changelog", ".outbox"))}
    assert set(TOPIC_EVENTS) == declared


def test_every_event_is_carried_by_some_topic() -> None:
    assert set(TOPIC_EVENTS.values()) == set(default_schema_set().short_events())


def test_topic_table() -> None:
    assert TOPIC_EVENTS["orders.placed.v1"] == "OrderPlaced"
    assert TOPIC_EVENTS["orders.review.v1"] == "OrderPlaced"
    assert TOPIC_EVENTS["inventory.reservations.v1"] == "StockReservation"
    assert TOPIC_EVENTS["bus.audit.v1"] == "ProcessingRecord"


def test_subject_is_topic_name_strategy() -> None:
    assert subject_for("orders.placed.v1") == "orders.placed.v1-value"


def test_schema_for_topic_is_the_expanded_event() -> None:
    assert schema_for_topic("shipments.tracking.v1")["name"] == "ShipmentUpdated"


def test_unknown_topic() -> None:
    with pytest.raises(ConfigError, match=r"orders\.placed\.v1"):
        event_for("orders.plcaed.v1")
