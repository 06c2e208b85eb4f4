"""The business rules of shipping-tracker, on both of its sides.

Edge (:class:`CarrierIdentities`): a verified EasyPost or AfterShip webhook is named by its
tracking number (``easypost:<tracking code>``) and stored as it came on ``intake.carriers.v1``.

Intake stage (:class:`TrackingWebhooks`, exactly once per carrier event id): a stored delivery
becomes one ShipmentUpdated on shipments.tracking.v1, keyed by the order. The order comes from
the webhook's reference: a bus order id is used as is, a store order id (``6120004415``) is
prefixed with the store, an order name (``#1042``) is looked up at the store. A webhook without a
reference, or naming an order the store does not know, is dead-lettered with that reason (a
retry cannot help).

Consumer side (:class:`ShipmentTracker`, on shipments.tracking.v1): pushes the fulfillment
(tracking number, URL, carrier) to the store once per tracking number, then moves the order's
status if the scan advances it (see :mod:`services.shipping_tracker.statuses`), emitting an
OrderStatusChanged. A late or out-of-order scan changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from bus.contracts import models as m
from bus.errors import InvalidInput, PermanentError
from bus.runtime.handlers import Context
from bus.webhooks.endpoint import Delivery
from bus.webhooks.intake import Identity
from bus.webhooks.payload import text
from bus.webhooks.publication import Publication, Record
from services.shipping_tracker import SERVICE, carriers
from services.shipping_tracker.statuses import SHIPMENT_TO_ORDER, Known, StatusBook, millis
from services.shipping_tracker.storefront import Storefront


class Marks(Protocol):
    """Handled ids shared by replicas (:class:`~bus.runtime.idempotency.ProcessedEvents`)."""

    def seen(self, event_id: str) -> bool: ...

    def mark(self, event_id: str) -> None: ...


MAX_REFERENCE_CHARS = 200
"""Longest tracking number or event id a carrier webhook may name (they are far shorter)."""


def _identity(platform: str, tracking: Any, event_id: Any, topic: str) -> Identity:
    """``<platform>:<tracking number>``; ``<platform>:event:<id>`` for events about no tracker."""
    tracking_text, event_text = text(tracking, "tracking number"), text(event_id, "event id")
    if len(tracking_text or "") > MAX_REFERENCE_CHARS or len(event_text or "") > MAX_REFERENCE_CHARS:
        raise InvalidInput(f"the {platform} webhook's tracking number or event id is longer than "
                           f"{MAX_REFERENCE_CHARS} characters", field="tracking_number")
    if tracking_text:
        return Identity(platform, f"{platform}:{tracking_text}", topic)
    if event_text:
        return Identity(platform, f"{platform}:event:{event_text}", topic)
    raise InvalidInput(f"the {platform} webhook names neither a tracking number nor an event id",
                       field="tracking_number")


class CarrierIdentities:
    """What a verified carrier webhook is about, at the edge (no mapping, no lookup)."""

    @staticmethod
    def easypost(delivery: Delivery) -> Identity:
        event = delivery.payload
        tracker = event.get("result")
        tracking = tracker.get("tracking_code") if isinstance(tracker, Mapping) else None
        return _identity("easypost", tracking, event.get("id"), str(event.get("description") or ""))

    @staticmethod
    def aftership(delivery: Delivery) -> Identity:
        body = delivery.payload
        msg = body.get("msg")
        tracking = msg.get("tracking_number") if isinstance(msg, Mapping) else None
        return _identity("aftership", tracking, body.get("event_id"), str(body.get("event") or ""))


class TrackingWebhooks:
    """Interprets stored carrier webhooks (one method per carrier; :meth:`interpret` dispatches).

    Args:
        topic: where ShipmentUpdated goes.
        storefront: resolves order references.
    """

    def __init__(self, topic: str, storefront: Storefront) -> None:
        self.topic, self.storefront = topic, storefront

    def order_id(self, reference: str | None, what: str) -> str:
        if not reference:
            raise PermanentError(f"{what} names no order (no order reference): it cannot be tracked")
        if reference.count(":") >= 2:
            return reference
        if reference.startswith("#"):
            return self.storefront.find_by_name(reference)
        return self.storefront.order_id(reference)

    def _publish(self, payload: dict[str, Any], reference: str | None, what: str,
                 update: Callable[[dict[str, Any], str], m.ShipmentUpdated]) -> Publication:
        shipment = update(payload, self.order_id(reference, what))
        event_id = shipment.meta.event_id
        return Publication((event_id,), (Record(self.topic, shipment.order_id, shipment, event_id),))

    def interpret(self, delivery: Delivery) -> Publication:
        """What a stored carrier delivery means (the intake stage's rule)."""
        if delivery.platform == "easypost":
            return self.easypost(delivery)
        if delivery.platform == "aftership":
            return self.aftership(delivery)
        return Publication.ignored(f"platform {delivery.platform} is not handled")

    def easypost(self, delivery: Delivery) -> Publication:
        """EasyPost ``tracker.updated`` (other events are ignored)."""
        event = delivery.payload
        if not carriers.easypost_is_tracking(event):
            return Publication.ignored(f"EasyPost {event.get('description') or 'event'} is not tracked")
        return self._publish(event, carriers.easypost_reference(event), "the EasyPost event",
                             carriers.easypost_update)

    def aftership(self, delivery: Delivery) -> Publication:
        """AfterShip ``tracking_update`` (other events are ignored)."""
        body = delivery.payload
        if not carriers.aftership_is_tracking(body):
            return Publication.ignored(f"AfterShip {body.get('event') or 'event'} is not tracked")
        return self._publish(body, carriers.aftership_reference(body), "the AfterShip event",
                             carriers.aftership_update)


class ShipmentTracker:
    """The handler of shipments.tracking.v1 (``side_effects=True``: it calls the store).

    Args:
        book: every order's current status.
        storefront: where fulfillments go.
        fulfilled: ``<order_id>:<tracking number>`` of fulfillments already pushed.
        status_topic: where OrderStatusChanged goes.
    """

    def __init__(self, book: StatusBook, storefront: Storefront, fulfilled: Marks, status_topic: str) -> None:
        self.book, self.storefront, self.fulfilled = book, storefront, fulfilled
        self.status_topic = status_topic

    def track(self, update: m.ShipmentUpdated, ctx: Context) -> None:
        """Push the fulfillment once, then move the order forward if this scan advances it."""
        pushed = f"{update.order_id}:{update.tracking_number}"
        if not self.fulfilled.seen(pushed):
            self.storefront.push_fulfillment(update.order_id, update.tracking_number, update.tracking_url,
                                             update.carrier)
            self.fulfilled.mark(pushed)
        status = SHIPMENT_TO_ORDER.get(update.status)
        if status is None:
            ctx.log.info("%s %s is %s: no order status change", update.carrier, update.tracking_number,
                         update.status)
            return
        event_id = f"{update.meta.event_id}:status"
        current = self.book.get(update.order_id)
        known = Known(status, millis(update.occurred_at), event_id)
        retried = current is not None and current.event_id == event_id  # outputs lost, handled again
        if not retried and not self.book.apply(update.order_id, known):
            ctx.log.info("late or out-of-order %s for %s recorded; the order stays %s", status,
                         update.order_id, current.status if current else "unknown")
            return
        previous = current.status if current is not None and not retried else None
        reason = f"{update.carrier} {update.tracking_number}: {update.carrier_status or update.status}"
        meta = m.Meta(event_id=event_id, occurred_at=update.occurred_at,
                      correlation_id=update.meta.correlation_id, causation_id=update.meta.event_id,
                      source=m.Source(platform="ecombus", system=SERVICE))
        ctx.emit(self.status_topic, m.OrderStatusChanged(
            meta=meta, order_id=update.order_id, status=status, previous_status=previous,
            reason=reason + (f" ({update.message})" if update.message else "")), key=update.order_id)
