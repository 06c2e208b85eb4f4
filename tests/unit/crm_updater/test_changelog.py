"""The internal Avro schemas carry a customer's whole state and the HubSpot input exactly."""

from __future__ import annotations

from io import BytesIO
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from bus.contracts.examples import examples, order_placed
from services.crm_updater.changelog import (
    CONTACT_UPSERT,
    CUSTOMER_STATE,
    contact_upsert,
    state_from_record,
    state_record,
)
from services.crm_updater.profiles import CustomerBook


def _round_trip(schema: dict[str, Any], value: dict[str, Any]) -> Any:
    parsed = parse_schema(schema)
    out = BytesIO()
    schemaless_writer(out, parsed, value)
    out.seek(0)
    return schemaless_reader(out, parsed)


def test_state_survives_the_changelog_schema() -> None:
    state = CustomerBook().for_email("hanako.sato@example.jp")
    state.count_order(order_placed(1042))
    state.count_order(order_placed(1043, line_count=3))
    state.apply_profile(examples()["CustomerUpserted"])  # type: ignore[arg-type]
    restored = state_from_record(_round_trip(CUSTOMER_STATE, state_record(state)))
    assert restored.contact_properties() == state.contact_properties()
    assert restored.lifetime_spend() == state.lifetime_spend()
    assert restored.orders.keys() == state.orders.keys()
    assert restored.address == state.address and restored.profile_at == state.profile_at


def test_outbox_value_is_a_hubspot_input() -> None:
    state = CustomerBook().for_email("hanako.sato@example.jp")
    state.count_order(order_placed())
    value = _round_trip(CONTACT_UPSERT, contact_upsert(state))
    assert value["id"] == "hanako.sato@example.jp" and value["idProperty"] == "email"
    assert value["properties"]["ecombus_orders_count"] == "1"
