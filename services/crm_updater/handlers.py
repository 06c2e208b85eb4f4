"""What crm-updater does with each event: update the customer, then record the new state.

Every handled event emits the customer's whole state to the changelog and its contact to the
outbox, in the consumer loop's exactly-once transaction, *even when nothing changed* (a
replayed order already counted): after an aborted transaction the loop hands the same events
again while the in-memory state already holds their effect, and emitting again is what brings
Kafka back level with memory. The CRM then receives the same figures again, which is harmless.

An event without a customer email cannot become a CRM contact (HubSpot upserts by email): it
is a permanent error, dead-lettered with that reason.
"""

from __future__ import annotations

from bus.contracts import models as m
from bus.errors import PermanentError
from bus.runtime.handlers import Context
from services.crm_updater.changelog import contact_upsert, state_record
from services.crm_updater.profiles import CustomerBook, CustomerState


class CustomerFigures:
    """The handlers, bound to the book of customers and the topics their state goes to."""

    def __init__(self, book: CustomerBook, changelog_topic: str, outbox_topic: str) -> None:
        self.book = book
        self.changelog_topic = changelog_topic
        self.outbox_topic = outbox_topic

    def count_order(self, order: m.OrderPlaced, ctx: Context) -> None:
        """Add the order to its customer's lifetime figures (once)."""
        email = order.customer.email
        if not email:
            raise PermanentError(f"order {order.order_id} has no customer email; CRM contacts are "
                                 "upserted by email")
        with self.book.lock:
            state = self.book.for_email(email)
            if not state.count_order(order):
                ctx.log.info("order %s already counted for its customer", order.order_id)
            self._record(state, ctx)

    def apply_profile(self, event: m.CustomerUpserted, ctx: Context) -> None:
        """Take a newer profile's fields (an older one changes nothing)."""
        email = event.customer.email
        if not email:
            raise PermanentError(f"customer {event.customer_key} has no email; CRM contacts are "
                                 "upserted by email")
        with self.book.lock:
            state = self.book.for_email(email)
            state.apply_profile(event)
            self._record(state, ctx)

    def _record(self, state: CustomerState, ctx: Context) -> None:
        ctx.emit(self.changelog_topic, state_record(state), key=state.customer_key)
        ctx.emit(self.outbox_topic, contact_upsert(state), key=state.customer_key)
