"""The storefront's order API as shipping-tracker uses it: find orders, push fulfillments.

Orders on the bus are ``<platform>:<system>:<platform order id>``; this client serves one store
(a Shopify shop) and refuses orders of any other with a permanent error, as it does orders the
store does not know (404): retrying cannot help, the event is dead-lettered with that reason.
Throttling is handled twice: 429/5xx are retried honouring ``Retry-After`` (by the
:class:`~bus.http.ApiClient` policy), and when ``X-Shopify-Shop-Api-Call-Limit`` shows the
bucket nearly full the client waits for it to drain a little before the next call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import quote

from bus.errors import NotFound, PermanentError
from bus.http import ApiClient

log = logging.getLogger("ecombus.shipping_tracker.storefront")

ADMIN = "/admin/api/2024-10"


class Storefront:
    """One store's admin API.

    Args:
        api: the API client (base URL and access token set).
        platform / system: the store as order ids name it (``shopify``, the shop domain).
        notify_customer: asks the store to e-mail the customer about the fulfillment.
        headroom: calls kept free in the leaky bucket; the client waits rather than use them.
        leak_per_second: the bucket's drain rate (Shopify: 2).
        sleep: injectable for tests.
    """

    def __init__(self, api: ApiClient, platform: str, system: str, *, notify_customer: bool = False,
                 headroom: int = 4, leak_per_second: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.api, self.platform, self.system = api, platform, system
        self.notify_customer = notify_customer
        self._headroom, self._leak, self._sleep = headroom, leak_per_second, sleep
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()

    def order_id(self, platform_order_id: str) -> str:
        return f"{self.platform}:{self.system}:{platform_order_id}"

    def platform_order_id(self, order_id: str) -> str:
        """The store's own id of a bus order id; NotFound (permanent) for another store's order."""
        prefix = f"{self.platform}:{self.system}:"
        if not order_id.startswith(prefix):
            raise NotFound(f"unknown order {order_id}: shipping-tracker serves {prefix}* orders only")
        return order_id[len(prefix):]

    def find_by_name(self, name: str) -> str:
        """The bus order id of the order called ``name`` (``#1042``), cached once found.

        Raises:
            NotFound: the store has no order with that name (permanent: dead-letter it).
            TransientError: the store could not be asked.
        """
        with self._lock:
            if name in self._names:
                return self._names[name]
        response = self.api.request("GET", f"{ADMIN}/orders.json",
                                    params={"name": name, "status": "any", "fields": "id,name"})
        self._pace(response.headers.get("X-Shopify-Shop-Api-Call-Limit"))
        matches = [o for o in response.json().get("orders") or [] if o.get("name") == name]
        if not matches:
            raise NotFound(f"unknown order {name}: {self.system} has no order with that name")
        found = self.order_id(str(matches[0]["id"]))
        with self._lock:
            self._names[name] = found
        return found

    def push_fulfillment(self, order_id: str, tracking_number: str, tracking_url: str | None,
                         carrier: str) -> None:
        """Create the fulfillment (tracking number, URL, company) of an order at the store."""
        platform_id = self.platform_order_id(order_id)
        body = {"fulfillment": {"tracking_number": tracking_number, "tracking_url": tracking_url,
                                "tracking_company": carrier, "notify_customer": self.notify_customer}}
        path = f"{ADMIN}/orders/{quote(platform_id, safe='')}/fulfillments.json"
        try:
            response = self.api.request("POST", path, json=body)
        except PermanentError as exc:
            if " answered 404" in str(exc):
                raise NotFound(f"unknown order {order_id}: {self.system} has no order {platform_id}") \
                    from exc
            raise
        self._pace(response.headers.get("X-Shopify-Shop-Api-Call-Limit"))
        log.info("fulfillment of %s pushed: %s %s", order_id, carrier, tracking_number)

    def _pace(self, call_limit: str | None) -> None:
        """Wait when the bucket is nearly full, so the next call is not refused."""
        try:
            used, capacity = (int(x) for x in (call_limit or "").split("/"))
        except ValueError:
            return
        excess = used - (capacity - self._headroom)
        if excess > 0:
            self._sleep(excess / self._leak)
