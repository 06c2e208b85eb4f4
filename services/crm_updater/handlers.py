"""What crm-updater does with each event: update the customer, then record the new state.

Every handled event emits the customer's whole state to the changelog and its contact to the
outbox, in the consumer loop's exactly-once transaction, *even when nothing changed* (a
replayed order already counted): after an aborted transaction the loop hands the same events
again while the in-memory state already holds their effect, and emitting again is what brings
Kafka back level with memory. The CRM then receives the same figures again, which is harmless.

An event without a customer email cannot become a CRM contact (HubSpot upserts by email): it
is a permanent error, dead-lettered with that reason.

After the sale (``orders.refunds.v1``, ``orders.cancellations.v1``, keyed by order id): the event
finds its customer through the order it names (:meth:`~.profiles.CustomerBook.owner`). One for
an order the CRM never counted (never placed on the bus, placed without an email, or not read
yet: a refund consumed before its order in a backlog) is dead-lettered at once with that reason
(:class:`~bus.errors.NotFound`), never dropped: ``ecombus dlq replay crm-updater`` applies it
once its order is counted. The rules themselves are in :mod:`.profiles`.
"""

from __future__ import annotations

from bus.contracts import models as m
from bus.errors import NotFound, PermanentError
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
            self.book.counted(state, order.order_id)
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

    def apply_refund(self, refund: m.OrderRefunded, ctx: Context) -> None:
        """Net the refund from its customer's revenue (once per refund id); record it as the last refund."""
        with self.book.lock:
            state = self._owner(refund.order_id, f"refund {refund.refund_id}")
            if not state.apply_refund(refund):
                ctx.log.info("refund %s of order %s already taken", refund.refund_id, refund.order_id)
            self._record(state, ctx)

    def apply_cancellation(self, cancelled: m.OrderCancelled, ctx: Context) -> None:
        """Take the cancelled order out of its customer's figures (once)."""
        with self.book.lock:
            state = self._owner(cancelled.order_id, "cancellation")
            if not state.cancel(cancelled.order_id):
                ctx.log.info("order %s already cancelled", cancelled.order_id)
            self._record(state, ctx)

    def _owner(self, order_id: str, what: str) -> CustomerState:
        state = self.book.owner(order_id)
        if state is None:
            raise NotFound(f"{what} for order {order_id}, which the CRM never counted (unknown order, "
                           "an order without an email, or not read yet: replay once it is counted)")
        return state

    def _record(self, state: CustomerState, ctx: Context) -> None:
        ctx.emit(self.changelog_topic, state_record(state), key=state.customer_key)
        ctx.emit(self.outbox_topic, contact_upsert(state), key=state.customer_key)
