"""Carrier payloads → ShipmentUpdated, and the monotonic order status machine."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bus.contracts import models as m
from bus.webhooks.body import parse_json_object
from services.shipping_tracker import carriers
from services.shipping_tracker.statuses import Known, StatusBook, advances
from simulators import fixture
from simulators.carrier import Shipment, life_events, sending_order

Status = m.OrderStatus
ORDER = "shopify:hanako-tea.myshopify.com:6120004415"


def test_easypost_fixture() -> None:
    event = parse_json_object(fixture("easypost_tracker_updated.json"))
    assert carriers.easypost_is_tracking(event) and carriers.easypost_reference(event) is None
    update = carriers.easypost_update(event, ORDER)
    assert (update.meta.event_id, update.order_id, update.carrier) == ("easypost:evt_7f3a21c0", ORDER, "UPS")
    assert (update.tracking_number, update.status, update.carrier_status) == (
        "EZ4000000004", m.ShipmentStatus.OUT_FOR_DELIVERY, "out_for_delivery")
    assert update.occurred_at == datetime(2025, 6, 5, 7, 41, tzinfo=UTC)
    assert update.location == m.ShipmentLocation(city="TORRANCE", province="CA", postal_code="90501",
                                                 country_code="US")
    assert update.message == "Out For Delivery Today"


def test_aftership_fixture_keeps_japanese_text() -> None:
    body = parse_json_object(fixture("aftership_tracking_update.json"))
    assert carriers.aftership_is_tracking(body) and carriers.aftership_reference(body) == "#1042"
    update = carriers.aftership_update(body, ORDER)
    assert update.meta.event_id == "aftership:5b0e2c9a-6f7d-4b71-9f0e-2f4b8f6f1a11"
    assert (update.status, update.carrier, update.carrier_status) == (
        m.ShipmentStatus.DELIVERED, "ups", "Delivered_001")
    assert update.occurred_at == datetime(2025, 6, 5, 6, 2, tzinfo=UTC)  # 15:02+09:00
    assert update.message == "配達完了"
    assert update.location == m.ShipmentLocation(city="渋谷区", province="東京都", country_code="JP")


@pytest.mark.parametrize("provider", ["easypost", "aftership"])
def test_simulated_lives_map_to_every_status_in_order(provider: str) -> None:
    shipment = Shipment("6120004415", "1ZLIFE", provider=provider)
    bodies = [parse_json_object(b) for b in life_events(shipment)]
    update = carriers.easypost_update if provider == "easypost" else carriers.aftership_update
    updates = [update(b, ORDER) for b in bodies]
    assert [u.status for u in updates] == [m.ShipmentStatus.PRE_TRANSIT, m.ShipmentStatus.IN_TRANSIT,
                                           m.ShipmentStatus.OUT_FOR_DELIVERY, m.ShipmentStatus.DELIVERED]
    assert [u.occurred_at for u in updates] == sorted(u.occurred_at for u in updates)
    assert len({u.meta.event_id for u in updates}) == 4
    assert sending_order(4, out_of_order=True, duplicate=True) == [0, 3, 2, 1, 1, 3]


@pytest.mark.parametrize(("current", "new", "at", "moves"), [
    (None, Status.IN_TRANSIT, 5, True),
    (Known(Status.RESERVED, 1, "e"), Status.SHIPPED, 0, True),
    (Known(Status.DELIVERED, 9, "e"), Status.IN_TRANSIT, 10, False),  # late scan after delivery
    (Known(Status.OUT_FOR_DELIVERY, 9, "e"), Status.IN_TRANSIT, 20, False),
    (Known(Status.DELIVERY_FAILED, 9, "e"), Status.OUT_FOR_DELIVERY, 20, True),  # next attempt
    (Known(Status.OUT_FOR_DELIVERY, 9, "e"), Status.DELIVERY_FAILED, 5, False),  # older, same rank
    (Known(Status.IN_TRANSIT, 9, "e"), Status.IN_TRANSIT, 20, False),
    (Known(Status.CANCELLED, 1, "e"), Status.DELIVERED, 20, False),
    (Known(Status.UNKNOWN, 1, "e"), Status.SHIPPED, 0, True),
    (None, Status.UNKNOWN, 0, False),
])
def test_status_only_moves_forward(current: Known | None, new: m.OrderStatus, at: int, moves: bool) -> None:
    assert advances(current, new, at) is moves


def test_status_book_folds_and_ignores_its_own_event_twice() -> None:
    book = StatusBook({}, "orders.status.v1", codec=None)  # type: ignore[arg-type]
    assert book.apply(ORDER, Known(Status.DELIVERED, 10, "a"))
    assert not book.apply(ORDER, Known(Status.IN_TRANSIT, 20, "b"))
    assert not book.apply(ORDER, Known(Status.DELIVERED, 10, "a"))
    assert book.get(ORDER) == Known(Status.DELIVERED, 10, "a")
