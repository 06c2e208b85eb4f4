"""Carrier tracking webhooks (EasyPost ``tracker.updated``, AfterShip) as ShipmentUpdated.

Each webhook is a snapshot of one shipment: the current status plus its scans. The event's time
is the newest scan's; its id is the tracking service's event id (``easypost:evt_...``,
``aftership:<uuid>``), so a redelivery maps to the same event. Statuses map onto ours:

===========================  =====================  ==============================
ShipmentStatus               EasyPost               AfterShip tag
===========================  =====================  ==============================
PRE_TRANSIT                  pre_transit            Pending, InfoReceived
IN_TRANSIT                   in_transit             InTransit
OUT_FOR_DELIVERY             out_for_delivery       OutForDelivery
AVAILABLE_FOR_PICKUP         available_for_pickup   AvailableForPickup
DELIVERED                    delivered              Delivered
DELIVERY_FAILED              failure                AttemptFail
RETURNED                     return_to_sender       —
CANCELLED                    cancelled              —
EXCEPTION                    error                  Exception, Expired
UNKNOWN                      unknown, anything else anything else
===========================  =====================  ==============================

Which order a shipment belongs to comes from the webhook: AfterShip's ``msg.order_id`` (or
``order_number``), EasyPost's tracker ``reference`` (set when the label was bought for the
order). EasyPost trackers created without one carry no order at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bus.contracts import models as m
from bus.webhooks.payload import mapping, required, text, utc

S = m.ShipmentStatus
EASYPOST = {"pre_transit": S.PRE_TRANSIT, "in_transit": S.IN_TRANSIT, "out_for_delivery": S.OUT_FOR_DELIVERY,
            "available_for_pickup": S.AVAILABLE_FOR_PICKUP, "delivered": S.DELIVERED,
            "failure": S.DELIVERY_FAILED, "return_to_sender": S.RETURNED, "cancelled": S.CANCELLED,
            "error": S.EXCEPTION}
AFTERSHIP = {"Pending": S.PRE_TRANSIT, "InfoReceived": S.PRE_TRANSIT, "InTransit": S.IN_TRANSIT,
             "OutForDelivery": S.OUT_FOR_DELIVERY, "AvailableForPickup": S.AVAILABLE_FOR_PICKUP,
             "Delivered": S.DELIVERED, "AttemptFail": S.DELIVERY_FAILED, "Exception": S.EXCEPTION,
             "Expired": S.EXCEPTION}


def _meta(event_id: str, platform: str, system: str, occurred_at: datetime, order_id: str) -> m.Meta:
    return m.Meta(event_id=event_id, occurred_at=occurred_at, correlation_id=order_id,
                  source=m.Source(platform=platform, system=system))


# -- EasyPost ------------------------------------------------------------------------------

def easypost_is_tracking(event: Mapping[str, Any]) -> bool:
    return event.get("description") == "tracker.updated"


def easypost_reference(event: Mapping[str, Any]) -> str | None:
    return text(mapping(event.get("result")).get("reference"))


def easypost_update(event: Mapping[str, Any], order_id: str) -> m.ShipmentUpdated:
    """The ShipmentUpdated of a ``tracker.updated`` event for ``order_id``."""
    tracker = mapping(required(event, "result", "the event"))
    details = [d for d in tracker.get("tracking_details") or [] if isinstance(d, Mapping)]
    latest = details[-1] if details else {}
    when = latest.get("datetime") or tracker.get("updated_at") or required(event, "created_at", "the event")
    occurred_at = utc(when, "tracking detail datetime")
    where = mapping(latest.get("tracking_location"))
    location = None
    if where:
        location = m.ShipmentLocation(city=text(where.get("city")), province=text(where.get("state")),
                                      postal_code=text(where.get("zip")),
                                      country_code=text(where.get("country")))
    carrier = text(tracker.get("carrier")) or "unknown"
    status = str(tracker.get("status") or "unknown")
    estimated = tracker.get("est_delivery_date")
    return m.ShipmentUpdated(
        meta=_meta(f"easypost:{required(event, 'id', 'the event')}", "easypost", carrier, occurred_at,
                   order_id),
        order_id=order_id, carrier=carrier,
        tracking_number=str(required(tracker, "tracking_code", "the tracker")),
        status=EASYPOST.get(status, S.UNKNOWN), carrier_status=status, message=text(latest.get("message")),
        location=location, occurred_at=occurred_at,
        estimated_delivery_at=utc(estimated, "est_delivery_date") if estimated else None,
        tracking_url=text(tracker.get("public_url")))


# -- AfterShip -----------------------------------------------------------------------------

def aftership_is_tracking(body: Mapping[str, Any]) -> bool:
    return body.get("event") == "tracking_update"


def aftership_reference(body: Mapping[str, Any]) -> str | None:
    msg = mapping(body.get("msg"))
    return text(msg.get("order_id")) or text(msg.get("order_number"))


def _aftership_location(checkpoint: Mapping[str, Any]) -> m.ShipmentLocation | None:
    """Structured fields when present, else the ``location`` text ("渋谷区, 東京都, JP")."""
    city, state, zip_code = (text(checkpoint.get(k)) for k in ("city", "state", "zip"))
    country = text(checkpoint.get("country_iso2"))
    if not any((city, state, zip_code, country)) and text(checkpoint.get("location")):
        parts = [p.strip() for p in str(checkpoint["location"]).split(",")]
        if len(parts) == 3 and len(parts[2]) == 2:
            city, state, country = parts
        else:
            city = str(checkpoint["location"])
    if not any((city, state, zip_code, country)):
        return None
    return m.ShipmentLocation(city=city, province=state, postal_code=zip_code, country_code=country)


def aftership_update(body: Mapping[str, Any], order_id: str) -> m.ShipmentUpdated:
    """The ShipmentUpdated of an AfterShip ``tracking_update`` for ``order_id``."""
    msg = mapping(required(body, "msg", "the webhook"))
    checkpoints = [c for c in msg.get("checkpoints") or [] if isinstance(c, Mapping)]
    latest = checkpoints[-1] if checkpoints else {}
    occurred_at = utc(latest.get("checkpoint_time") or required(body, "ts", "the webhook"), "checkpoint_time")
    carrier = text(msg.get("slug")) or "unknown"
    tag = str(msg.get("tag") or "")
    estimated = msg.get("expected_delivery")
    return m.ShipmentUpdated(
        meta=_meta(f"aftership:{required(body, 'event_id', 'the webhook')}", "aftership", carrier,
                   occurred_at, order_id),
        order_id=order_id, carrier=carrier,
        tracking_number=str(required(msg, "tracking_number", "the tracking")),
        status=AFTERSHIP.get(tag, S.UNKNOWN), carrier_status=text(msg.get("subtag")) or tag or None,
        message=text(latest.get("message")), location=_aftership_location(latest), occurred_at=occurred_at,
        estimated_delivery_at=utc(estimated, "expected_delivery") if estimated else None,
        tracking_url=text(msg.get("courier_tracking_link")) or text(msg.get("aftership_tracking_url")))
