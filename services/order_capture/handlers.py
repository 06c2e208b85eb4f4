"""What each storefront's webhook means on the bus: the business rules of order-capture.

Two moments, two kinds of rule. At the edge, before answering, :class:`Identities` only names
what a delivery is about (tenant, business identity = the order id, the platform's event name),
so the raw delivery can be stored on ``intake.storefronts.v1`` keyed by it. After the intake, the
exactly-once stage asks :meth:`OrderCapture.interpret` what it means:

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

After the sale (:mod:`services.order_capture.aftersale_rules`): Shopify ``orders/cancelled``,
``refunds/create``, ``returns/*``, ``disputes/*``, WooCommerce ``order.updated`` (cancelled, its
refunds) and BigCommerce ``store/order/statusUpdated`` / ``store/order/refund/created`` publish
OrderCancelled, OrderRefunded, ReturnUpdated and DisputeUpdated, each under its own dedupe key
(``<order_id>:cancelled``, ``<order_id>:refund:<id>``, ...); a delivery meaning several of them
(a cancelled order with its refunds, an order reconciled) is a combined publication whose parts
are decided one by one. Refunds, returns and disputes are keyed at the edge by their order
(``order_id``), so they share the order's partition with its OrderPlaced.

Reconciliation's pulled orders (channel ``reconciliation``) mean an OrderPlaced + CustomerUpserted
too. Dedupe keys are the platforms' own: Shopify ``X-Shopify-Event-Id``, WooCommerce resource id +
``date_modified_gmt``, BigCommerce ``hash``; each event's ``event_id`` derives from them, so a
redelivery maps to the same id. An OrderPlaced also claims ``<order_id>:placed``, so an order
reconciliation already backfilled is not published again when its webhook arrives late (and the
other way round). All deliveries of one order share the identity, hence a partition and its one
owner, which decides the keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from bus.contracts import models as m
from bus.errors import Forbidden, InvalidInput, TransientError
from bus.http import ApiClient
from bus.webhooks.body import parse_json
from bus.webhooks.endpoint import Delivery
from bus.webhooks.intake import RECONCILIATION, Identity
from bus.webhooks.payload import platform_id, required, utc
from bus.webhooks.publication import Publication, Record
from services.order_capture import bigcommerce, fetch, shopify, woocommerce
from services.order_capture import bigcommerce_aftersale as bc_after
from services.order_capture import shopify_aftersale as shopify_after
from services.order_capture.aftersale_rules import SHOPIFY_TOPICS, AfterSale, AfterSaleTopics
from services.order_capture.orders import customer_upserted, status_changed


@dataclass(frozen=True)
class Topics:
    """Where order-capture publishes."""

    orders: str = "orders.placed.v1"
    customers: str = "customers.profiles.v1"
    status: str = "orders.status.v1"
    after_sale: AfterSaleTopics = field(default_factory=AfterSaleTopics)


def placed_key(order_id: str) -> str:
    """The order-level dedupe key every OrderPlaced claims, whichever way it arrived."""
    return f"{order_id}:placed"


def resource_id(data: Mapping[str, Any], key: str) -> str:
    """A platform's numeric id (``data[key]``) as decimal text (see :func:`platform_id`).

    Raises:
        InvalidInput: missing, or not a positive 64-bit integer (names ``key``).
    """
    return str(platform_id(data.get(key), key))


def shop_header(headers: Mapping[str, str]) -> tuple[str, str | None]:
    """The Shopify shop a delivery names (``X-Shopify-Shop-Domain``), for the tenant check."""
    return "X-Shopify-Shop-Domain", headers.get("x-shopify-shop-domain")


def woocommerce_site_header(headers: Mapping[str, str]) -> tuple[str, str | None]:
    """The WooCommerce site a delivery names (host of ``X-WC-Webhook-Source``)."""
    try:
        return "X-WC-Webhook-Source", woocommerce.site(headers.get("x-wc-webhook-source"))
    except InvalidInput:
        return "X-WC-Webhook-Source", None


class Identities:
    """What a verified delivery is about, at the edge: tenant, identity (the order id), event name.

    Nothing is mapped: only the ids the key needs are read, and checked to be what the platform
    documents (400 naming the field otherwise).
    """

    @staticmethod
    def shopify(delivery: Delivery) -> Identity:
        _, shop = shop_header(delivery.headers)
        if not shop:
            raise InvalidInput("missing X-Shopify-Shop-Domain header", field="X-Shopify-Shop-Domain")
        shop = shop.strip().lower()
        status_url = delivery.payload.get("order_status_url")
        if isinstance(status_url, str) and urlsplit(status_url).hostname not in (None, shop):
            raise Forbidden("X-Shopify-Shop-Domain is not the shop the signed body belongs to "
                            "(order_status_url)")
        topic = delivery.headers.get("x-shopify-topic", "")
        return Identity(shop, shopify_identity(delivery.payload, shop, topic), topic)

    @staticmethod
    def woocommerce(delivery: Delivery) -> Identity:
        system = woocommerce.site(delivery.headers.get("x-wc-webhook-source"))
        order = resource_id(delivery.payload, "id")
        topic = delivery.headers.get("x-wc-webhook-topic", "")
        return Identity(system, f"woocommerce:{system}:{order}", topic)

    @staticmethod
    def bigcommerce(delivery: Delivery) -> Identity:
        store = str(required(delivery.payload, "store_id", "the webhook")).strip().lower()
        data = required(delivery.payload, "data", "the webhook")
        if not isinstance(data, Mapping):
            raise InvalidInput("the webhook: data must be an object", field="data")
        order = resource_id(data, "id")
        return Identity(store, f"bigcommerce:{store}:{order}", str(delivery.payload.get("scope") or ""))


def shopify_identity(payload: Mapping[str, Any], shop: str, topic: str) -> str:
    """``shopify:<shop>:<order id>``: the body's ``id`` for an order's topics, its ``order_id``
    (a return's ``order.id``) for refunds, returns and disputes, so every delivery about an order
    shares its partition. An after-sale body that names no order is keyed by its own id
    (``shopify:<shop>:<resource>:<id>``) and stored: the intake stage dead-letters it with the reason.

    Raises:
        InvalidInput: the id used is missing or malformed (400 at the edge).
    """
    if topic.split("/")[0] in ("refunds", "returns", "disputes"):
        order = shopify_after.order_ref(payload, topic)
        if order is None:
            return f"shopify:{shop}:{topic.split('/')[0]}:{resource_id(payload, 'id')}"
        return f"shopify:{shop}:{order}"
    return f"shopify:{shop}:{resource_id(payload, 'id')}"


def woocommerce_ping(form: Mapping[str, str]) -> bool:
    """WooCommerce's unsigned ping when a webhook is saved: ``webhook_id=<n>`` and nothing else."""
    return set(form) == {"webhook_id"} and form["webhook_id"].isdigit()


class OrderCapture:
    """Interprets verified webhooks (one method per endpoint) into publications.

    Args:
        topics: where to publish.
        bigcommerce_api: the BigCommerce API client (thin webhooks); None refuses them with 503.
        clock: wall clock, for status events without a timestamp.
        woocommerce_api: the WooCommerce REST API, for refunds' lines (None: summaries only).
    """

    def __init__(self, topics: Topics, bigcommerce_api: ApiClient | None = None,
                 clock: Callable[[], float] = time.time, *, woocommerce_api: ApiClient | None = None) -> None:
        self.topics = topics
        self.after_sale = AfterSale(topics.after_sale)
        self.bigcommerce_api, self.woocommerce_api = bigcommerce_api, woocommerce_api
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

    def interpret(self, delivery: Delivery) -> Publication:
        """What a stored delivery means (the intake stage's rule), by platform and channel."""
        if delivery.channel == RECONCILIATION:
            return self.reconciled(delivery)
        if delivery.platform == "shopify":
            return self.shopify(delivery)
        if delivery.platform == "woocommerce":
            return self.woocommerce(delivery)
        if delivery.platform == "bigcommerce":
            return self.bigcommerce(delivery)
        return Publication.ignored(f"platform {delivery.platform} is not handled")

    def reconciled(self, delivery: Delivery) -> Publication:
        """A Shopify order reconciliation pulled from the admin API: OrderPlaced + its customer,
        under ``shopify:<shop>:reconciled:<id>`` (and ``<order_id>:placed``, as a webhook's); then,
        each under its own key, its cancellation and its refunds (so a lost ``refunds/create`` is
        backfilled, and a refund its webhook already published is not published again)."""
        order, shop = delivery.payload, delivery.tenant
        key = f"shopify:{shop}:reconciled:{resource_id(order, 'id')}"
        placed = shopify.order_placed(order, shop, key)
        customer = customer_upserted(placed, f"{key}:customer", **shopify.profile_details(order))
        after = self.after_sale.reconciled(order, shop)
        return Publication.combined([self.placed(placed, customer, key), after])

    def shopify(self, delivery: Delivery) -> Publication:
        """Shopify ``orders/create``, ``orders/updated``, ``orders/cancelled``."""
        topic = delivery.headers.get("x-shopify-topic", "")
        shop = delivery.headers.get("x-shopify-shop-domain")
        if not shop:
            raise InvalidInput("missing X-Shopify-Shop-Domain header", field="X-Shopify-Shop-Domain")
        order = delivery.payload
        event = (delivery.headers.get("x-shopify-event-id")
                 or f"{topic}:{resource_id(order, 'id')}:{order.get('updated_at')}")
        key = f"shopify:{shop}:{event}"
        if topic == "orders/create":
            placed = shopify.order_placed(order, shop, key)
            return self.placed(placed, customer_upserted(placed, f"{key}:customer",
                                                         **shopify.profile_details(order)), key)
        if topic in ("orders/updated", "orders/cancelled"):
            order_id = f"shopify:{shop}:{resource_id(order, 'id')}"
            status = self._status(order_id, shopify.status_of(order), key, order.get("updated_at"),
                                  m.Source(platform="shopify", system=shop), topic)
            if topic == "orders/updated":
                return status
            after = self.after_sale.shopify(topic, order, shop, self._when(delivery))
            return Publication.combined([status, after])
        if topic in SHOPIFY_TOPICS:
            return self.after_sale.shopify(topic, order, shop, self._when(delivery))
        return Publication.ignored(f"Shopify topic {topic or '(none)'} is not handled")

    def woocommerce(self, delivery: Delivery) -> Publication:
        """WooCommerce ``order.created`` (and ``order.updated`` for cancelled/completed)."""
        topic = delivery.headers.get("x-wc-webhook-topic", "")
        system = woocommerce.site(delivery.headers.get("x-wc-webhook-source"))
        order = delivery.payload
        order_ref = resource_id(order, "id")
        key = f"woocommerce:{system}:{order_ref}:{required(order, 'date_modified_gmt', 'the order')}"
        if topic == "order.created":
            placed = woocommerce.order_placed(order, system, key)
            customer = customer_upserted(placed, f"{key}:customer",
                                         default_address=woocommerce.billing_address(order))
            return self.placed(placed, customer, key)
        if topic == "order.updated":
            status = self._status(f"woocommerce:{system}:{order_ref}",
                                  woocommerce.STATUSES.get(str(order.get("status"))), key,
                                  order.get("date_modified_gmt"), m.Source(platform="woocommerce",
                                                                           system=system), topic)
            with_lines = self._woocommerce_refunds(order, order_ref)
            return Publication.combined([status, self.after_sale.woocommerce(with_lines, system)])
        return Publication.ignored(f"WooCommerce topic {topic or '(none)'} is not handled")

    def bigcommerce(self, delivery: Delivery) -> Publication:
        """BigCommerce ``store/order/created``: the order is fetched from the API (with retries)."""
        webhook = delivery.payload
        scope = webhook.get("scope")
        if scope in (bc_after.STATUS_SCOPE, bc_after.REFUND_SCOPE):
            store = str(required(webhook, "store_id", "the webhook"))
            return self.after_sale.bigcommerce(webhook, store, self._fetch_bigcommerce_refunds)
        if scope != "store/order/created":
            return Publication.ignored(f"BigCommerce scope {scope or '(none)'} is not handled")
        store_id = str(required(webhook, "store_id", "the webhook"))
        key = f"bigcommerce:{store_id}:{required(webhook, 'hash', 'the webhook')}"
        order, products = self._fetch_bigcommerce_order(webhook)
        placed = bigcommerce.order_placed(order, products, store_id, key)
        return self.placed(placed, customer_upserted(placed, f"{key}:customer",
                                                     default_address=placed.billing_address), key)

    def _when(self, delivery: Delivery) -> datetime:
        """When Shopify triggered a webhook (``X-Shopify-Triggered-At``, the same on its retries),
        else when it was received."""
        triggered = delivery.headers.get("x-shopify-triggered-at")
        return utc(triggered, "X-Shopify-Triggered-At") if triggered else datetime.fromtimestamp(
            delivery.received_at, UTC)

    def _woocommerce_refunds(self, order: dict[str, Any], order_ref: str) -> dict[str, Any]:
        return fetch.woocommerce_refunds(self.woocommerce_api, order, order_ref)

    def _fetch_bigcommerce_refunds(self, webhook: Mapping[str, Any]) -> tuple[dict[str, Any], list[Any],
                                                                               list[Any]]:
        """The order, its products and its v3 refunds, for a thin refund webhook."""
        order, products = self._fetch_bigcommerce_order(webhook)
        assert self.bigcommerce_api is not None  # checked by _fetch_bigcommerce_order
        return order, products, fetch.bigcommerce_refunds(self.bigcommerce_api, webhook)

    def _fetch_bigcommerce_order(self, webhook: Mapping[str, Any]) -> tuple[dict[str, Any], list[Any]]:
        api = self.bigcommerce_api
        if api is None:
            raise TransientError("the BigCommerce API is not configured (ECOMBUS_ORDER_CAPTURE_"
                                 "BIGCOMMERCE_API_URL / _TOKEN)")
        accept = {"Accept": "application/json"}
        order = parse_json(api.request("GET", bigcommerce.order_path(webhook), headers=accept).content)
        if not isinstance(order, dict):
            raise InvalidInput("the BigCommerce API did not answer an order object")
        link = bigcommerce.products_path(webhook, order)
        products = (parse_json(api.request("GET", link, headers=accept).content) if link
                    else order.get("products") or [])
        return order, products if isinstance(products, list) else []
