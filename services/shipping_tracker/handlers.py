"""The business rules of shipping-tracker, on both of its sides.

HTTP side (:class:`TrackingWebhooks`): a verified EasyPost or AfterShip webhook becomes one
ShipmentUpdated on shipments.tracking.v1, keyed by the order, deduplicated by the carrier's event
id. The order comes from the webhook's reference: a bus order id is used as is, a store order id
(``6120004415``) is prefixed with the store, an order name (``#1042``) is looked up at the store.
A webhook without a reference, or naming an order the store does not know, is dead-lettered with
that reason (a retry cannot help).

Consumer side (:class:`ShipmentTracker`, on shipments.tracking.v1): pushes the fulfillment
(tracking number, URL, carrier) to the store once per tracking number, then moves the order's
status if the scan advances it (see :mod:`services.shipping_tracker.statuses`), emitting an
OrderStatusChanged. A late or out-of-order scan changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from bus.contracts import models as m
from bus.errors import PermanentError
from bus.runtime.handlers import Context
from bus.webhooks.endpoint import Delivery
from bus.webhooks.publisher import Publication, Record
from services.shipping_tracker import SERVICE, carriers
from services.shipping_tracker.statuses import SHIPMENT_TO_ORDER, Known, StatusBook, millis
from services.shipping_tracker.storefront import Storefront


class Marks(Protocol):
    """Handled ids shared by replicas (:class:`~bus.runtime.idempotency.ProcessedEvents`)."""

    def seen(self, event_id: str) -> bool: ...

    def mark(self, event_id: str) -> None: ...


class TrackingWebhooks:
    """Interprets carrier webhooks (one method per endpoint).

    Args:
        topic: where ShipmentUpdated goes.
        storefront: resolves order references.
    """

    def __init__(self, topic: str, storefront: Storefront) -> None:
        self.topic, self.storefront = topic, storefront

    async def order_id(self, reference: str | None, what: str) -> str:
        if not reference:
            raise PermanentError(f"{what} names no order (no order reference): it cannot be tracked")
        if reference.count(":") >= 2:
            return reference
        if reference.startswith("#"):
            return await asyncio.to_thread(self.storefront.find_by_name, reference)
        return self.storefront.order_id(reference)

    async def _publish(self, payload: dict[str, Any], reference: str | None, what: str,
                       update: Callable[[dict[str, Any], str], m.ShipmentUpdated]) -> Publication:
        shipment = update(payload, await self.order_id(reference, what))
        event_id = shipment.meta.event_id
        return Publication((event_id,), (Record(self.topic, shipment.order_id, shipment, event_id),))

    async def easypost(self, delivery: Delivery) -> Publication:
        """EasyPost ``tracker.updated`` (other events are ignored)."""
        event = delivery.payload
        if not carriers.easypost_is_tracking(event):
            return Publication.ignored(f"EasyPost {event.get('description') or 'event'} is not tracked")
        return await self._publish(event, carriers.easypost_reference(event),
                                   f"EasyPost event {event.get('id')}", carriers.easypost_update)

    async def aftership(self, delivery: Delivery) -> Publication:
        """AfterShip ``tracking_update`` (other events are ignored)."""
        body = delivery.payload
        if not carriers.aftership_is_tracking(body):
            return Publication.ignored(f"AfterShip {body.get('event') or 'event'} is not tracked")
        return await self._publish(body, carriers.aftership_reference(body),
                                   f"AfterShip event {body.get('event_id')}", carriers.aftership_update)


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
