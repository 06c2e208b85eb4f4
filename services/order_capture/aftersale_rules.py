"""Which deliveries mean something after the sale, and what they publish.

=============================================  ===============================================
delivery                                       published (each part deduplicated on its key,
                                               :mod:`services.order_capture.aftersale`)
=============================================  ===============================================
Shopify ``orders/cancelled``                   OrderCancelled + an OrderRefunded per refund
Shopify ``refunds/create``                     OrderRefunded
Shopify ``returns/request|approve|decline|     ReturnUpdated (REQUESTED, OPEN, DECLINED,
cancel|close|reopen|process``                  CANCELLED, CLOSED, OPEN, RECEIVED)
Shopify ``disputes/create|update``             DisputeUpdated
Shopify order reconciled (admin API listing)   OrderCancelled when ``cancelled_at`` is set, an
                                               OrderRefunded per ``refunds[]`` entry
WooCommerce ``order.updated``                  OrderCancelled (status ``cancelled``), an
                                               OrderRefunded per ``refunds[]`` entry
BigCommerce ``store/order/statusUpdated``      OrderCancelled (to Cancelled); refunds fetched
                                               (to Refunded / Partially Refunded)
BigCommerce ``store/order/refund/created``     refunds fetched: an OrderRefunded per refund
=============================================  ===============================================

Every event is keyed by its ``order_id`` on its topic (``orders.cancellations.v1``,
``orders.refunds.v1``, ``orders.returns.v1``, ``orders.disputes.v1``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bus.contracts import models as m
from bus.webhooks.payload import objects, platform_id
from bus.webhooks.publication import Publication, Record
from services.order_capture import aftersale as a
from services.order_capture import bigcommerce_aftersale as bc
from services.order_capture import shopify_aftersale as sa
from services.order_capture import woocommerce_aftersale as wa

SHOPIFY_TOPICS = frozenset({"orders/cancelled", "refunds/create", "disputes/create", "disputes/update",
                            *sa.RETURN_TOPICS})


@dataclass(frozen=True)
class AfterSaleTopics:
    """Where after-sale events are published."""

    cancellations: str = "orders.cancellations.v1"
    refunds: str = "orders.refunds.v1"
    returns: str = "orders.returns.v1"
    disputes: str = "orders.disputes.v1"

    def of(self, event: a.AfterSaleEvent) -> str:
        """The topic of ``event``."""
        if isinstance(event, m.OrderCancelled):
            return self.cancellations
        if isinstance(event, m.OrderRefunded):
            return self.refunds
        if isinstance(event, m.ReturnUpdated):
            return self.returns
        return self.disputes

    def all(self) -> tuple[str, ...]:
        return (self.cancellations, self.refunds, self.returns, self.disputes)


FetchRefunds = Callable[[Mapping[str, Any]], tuple[Mapping[str, Any], list[Any], list[Any]]]
"""A thin BigCommerce webhook → (the order, its products, its v3 refunds)."""


class AfterSale:
    """Turns after-sale deliveries into publications (see the module docstring).

    Args:
        topics: where the events go.
    """

    def __init__(self, topics: AfterSaleTopics) -> None:
        self.topics = topics

    def publication(self, events: Sequence[a.AfterSaleEvent], note: str) -> Publication:
        """One part per event, under its dedupe key (its ``event_id``)."""
        return Publication.combined([Publication((e.meta.event_id,), (
            Record(self.topics.of(e), e.order_id, e, e.meta.event_id),)) for e in events], note)

    def shopify(self, topic: str, body: Mapping[str, Any], shop: str, when: datetime) -> Publication:
        """A Shopify after-sale webhook (``topic`` in :data:`SHOPIFY_TOPICS`)."""
        if topic == "orders/cancelled":
            events: list[a.AfterSaleEvent] = sa.order_cancelled(body, shop)
        elif topic == "refunds/create":
            events = [sa.order_refunded(body, shop)]
        elif topic in sa.RETURN_TOPICS:
            events = [sa.return_updated(body, shop, topic, when)]
        else:
            events = [sa.dispute_updated(body, shop, when)]
        return self.publication(events, f"Shopify {topic}: nothing after the sale")

    def reconciled(self, order: Mapping[str, Any], shop: str) -> Publication:
        """A listed Shopify order's cancellation (``cancelled_at``) and refunds (``refunds[]``)."""
        if order.get("cancelled_at"):
            events: list[a.AfterSaleEvent] = sa.order_cancelled(order, shop)
        else:
            ref = platform_id(order.get("id"), "id")
            events = [sa.order_refunded(r, shop, order_id_ref=ref, order_currency=order.get("currency"))
                      for r in objects(order.get("refunds"), "refunds")]
        return self.publication(events, "the reconciled order was neither cancelled nor refunded")

    def woocommerce(self, order: Mapping[str, Any], system: str) -> Publication:
        """A WooCommerce ``order.updated``: its cancellation and refunds, if any."""
        return self.publication(wa.after_sale(order, system), "order.updated: nothing after the sale")

    def bigcommerce(self, webhook: Mapping[str, Any], store_id: str, fetch: FetchRefunds) -> Publication:
        """A BigCommerce status update or refund (the refunds fetched through ``fetch``)."""
        events: list[a.AfterSaleEvent] = []
        if webhook.get("scope") == bc.STATUS_SCOPE and bc.new_status(webhook) == bc.CANCELLED:
            events.append(bc.order_cancelled(webhook, store_id))
        elif bc.needs_refunds(webhook):
            order, products, refunds = fetch(webhook)
            events += [bc.order_refunded(r, order, products, store_id) for r in refunds]
        return self.publication(events, f"BigCommerce {webhook.get('scope')}: nothing after the sale")
