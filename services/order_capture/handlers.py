"""What each storefront's webhook means on the bus: the business rules of order-capture.

=======================  ===================================================================
webhook                  published
=======================  ===================================================================
Shopify orders/create    OrderPlaced (orders.placed.v1) + CustomerUpserted (customers.profiles.v1)
Shopify orders/updated,  OrderStatusChanged (orders.status.v1): CANCELLED when cancelled_at is
orders/cancelled         set, SHIPPED when fulfilled; other updates are ignored
WooCommerce order.created  OrderPlaced + CustomerUpserted (order.updated: cancelled/completed)
BigCommerce              OrderPlaced + CustomerUpserted, after fetching the order from the API
store/order/created
=======================  ===================================================================

Dedupe keys are the platforms' own: Shopify ``X-Shopify-Event-Id``, WooCommerce resource id +
``date_modified_gmt``, BigCommerce ``hash``; each event's ``event_id`` derives from them, so a
redelivery maps to the same id. An OrderPlaced also claims ``<order_id>:placed``, so an order
reconciliation already backfilled is not published again when its webhook arrives late.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bus.contracts import models as m
from bus.errors import InvalidInput, TransientError
from bus.http import ApiClient
from bus.webhooks.endpoint import Delivery
from bus.webhooks.payload import required, utc
from bus.webhooks.publisher import Publication, Record
from services.order_capture import bigcommerce, shopify, woocommerce
from services.order_capture.orders import customer_upserted, status_changed


@dataclass(frozen=True)
class Topics:
    """Where order-capture publishes."""

    orders: str = "orders.placed.v1"
    customers: str = "customers.profiles.v1"
    status: str = "orders.status.v1"


def placed_key(order_id: str) -> str:
    """The order-level dedupe key every OrderPlaced claims, whichever way it arrived."""
    return f"{order_id}:placed"


def woocommerce_ping(form: Mapping[str, str]) -> bool:
    """WooCommerce's unsigned ping when a webhook is saved: ``webhook_id=<n>`` and nothing else."""
    return set(form) == {"webhook_id"} and form["webhook_id"].isdigit()


class OrderCapture:
    """Interprets verified webhooks (one method per endpoint) into publications.

    Args:
        topics: where to publish.
        bigcommerce_api: the BigCommerce API client (thin webhooks); None refuses them with 503.
        clock: wall clock, for status events without a timestamp.
    """

    def __init__(self, topics: Topics, bigcommerce_api: ApiClient | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.topics = topics
        self.bigcommerce_api = bigcommerce_api
        self._clock = clock

    def placed(self, order: m.OrderPlaced, customer: m.CustomerUpserted | None,
               *dedupe_keys: str) -> Publication:
        """An OrderPlaced (and its customer's profile) under the given dedupe keys."""
        records = [Record(self.topics.orders, order.order_id, order, order.meta.event_id)]
        if customer is not None:
            records.append(Record(self.topics.customers, customer.customer_key, customer,
                                  customer.meta.event_id))
        return Publication((*dedupe_keys, placed_key(order.order_id)), tuple(records))

    def _status(self, order_id: str, found: tuple[m.OrderStatus, str] | None, key: str, when: Any,
                source: m.Source, topic: str) -> Publication:
        if found is None:
            return Publication.ignored(f"{topic}: no status change order-capture reports")
        occurred_at = utc(when, "updated_at") if when else datetime.fromtimestamp(self._clock(), UTC)
        event = status_changed(order_id, found[0], event_id=key, occurred_at=occurred_at, source=source,
                               reason=found[1])
        return Publication((key,), (Record(self.topics.status, order_id, event, key),))

    def shopify(self, delivery: Delivery) -> Publication:
        """Shopify ``orders/create``, ``orders/updated``, ``orders/cancelled``."""
        topic = delivery.headers.get("x-shopify-topic", "")
        shop = delivery.headers.get("x-shopify-shop-domain")
        if not shop:
            raise InvalidInput("missing X-Shopify-Shop-Domain header", field="X-Shopify-Shop-Domain")
        order = delivery.payload
        event = (delivery.headers.get("x-shopify-event-id")
                 or f"{topic}:{required(order, 'id', 'the order')}:{order.get('updated_at')}")
        key = f"shopify:{shop}:{event}"
        if topic == "orders/create":
            placed = shopify.order_placed(order, shop, key)
            return self.placed(placed, customer_upserted(placed, f"{key}:customer",
                                                         **shopify.profile_details(order)), key)
        if topic in ("orders/updated", "orders/cancelled"):
            order_id = f"shopify:{shop}:{required(order, 'id', 'the order')}"
            return self._status(order_id, shopify.status_of(order), key, order.get("updated_at"),
                                m.Source(platform="shopify", system=shop), topic)
        return Publication.ignored(f"Shopify topic {topic or '(none)'} is not handled")

    def woocommerce(self, delivery: Delivery) -> Publication:
        """WooCommerce ``order.created`` (and ``order.updated`` for cancelled/completed)."""
        topic = delivery.headers.get("x-wc-webhook-topic", "")
        system = woocommerce.site(delivery.headers.get("x-wc-webhook-source"))
        order = delivery.payload
        order_ref = required(order, "id", "the order")
        key = f"woocommerce:{system}:{order_ref}:{required(order, 'date_modified_gmt', 'the order')}"
        if topic == "order.created":
            placed = woocommerce.order_placed(order, system, key)
            customer = customer_upserted(placed, f"{key}:customer",
                                         default_address=woocommerce.billing_address(order))
            return self.placed(placed, customer, key)
        if topic == "order.updated":
            return self._status(f"woocommerce:{system}:{order_ref}",
                                woocommerce.STATUSES.get(str(order.get("status"))), key,
                                order.get("date_modified_gmt"), m.Source(platform="woocommerce",
                                                                         system=system), topic)
        return Publication.ignored(f"WooCommerce topic {topic or '(none)'} is not handled")

    async def bigcommerce(self, delivery: Delivery) -> Publication:
        """BigCommerce ``store/order/created``: the order is fetched from the API (with retries)."""
        webhook = delivery.payload
        scope = webhook.get("scope")
        if scope != "store/order/created":
            return Publication.ignored(f"BigCommerce scope {scope or '(none)'} is not handled")
        store_id = str(required(webhook, "store_id", "the webhook"))
        key = f"bigcommerce:{store_id}:{required(webhook, 'hash', 'the webhook')}"
        order, products = await asyncio.to_thread(self._fetch_bigcommerce_order, webhook)
        placed = bigcommerce.order_placed(order, products, store_id, key)
        return self.placed(placed, customer_upserted(placed, f"{key}:customer",
                                                     default_address=placed.billing_address), key)

    def _fetch_bigcommerce_order(self, webhook: Mapping[str, Any]) -> tuple[dict[str, Any], list[Any]]:
        api = self.bigcommerce_api
        if api is None:
            raise TransientError("the BigCommerce API is not configured (ECOMBUS_ORDER_CAPTURE_"
                                 "BIGCOMMERCE_API_URL / _TOKEN)")
        accept = {"Accept": "application/json"}
        order = api.request("GET", bigcommerce.order_path(webhook), headers=accept).json(parse_float=Decimal)
        if not isinstance(order, dict):
            raise InvalidInput("the BigCommerce API did not answer an order object")
        link = bigcommerce.products_path(webhook, order)
        products = (api.request("GET", link, headers=accept).json(parse_float=Decimal) if link
                    else order.get("products") or [])
        return order, products if isinstance(products, list) else []
