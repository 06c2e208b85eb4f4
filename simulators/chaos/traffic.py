"""Steady traffic through the simulators: orders at a fixed rate, parcels, platform retries.

:class:`Traffic` has the storefront simulator create orders and send their webhooks at
``rate`` per second (Shopify orders of the five generated profiles, every fifth one a
WooCommerce order), and behaves as the platforms do:

* a delivery that was not answered 2xx (503, a cut connection, a timeout) is sent again, with
  the same event id, after 1, 2, 4, 8 and 16 seconds (five retries; Shopify retries for hours);
* an acknowledged delivery is sometimes sent once more (``duplicate_share``): platforms do;
* every ``ship_every``-th acknowledged Shopify order gets a parcel: the carrier simulator sends
  its tracking webhooks (EasyPost or AfterShip, sometimes out of order and duplicated), and the
  whole life is sent again while one of them was not answered 2xx (same event ids).

Every attempt is recorded with its wall-clock time, status and latency (:class:`Attempt`), so
the invariants and the webhook percentiles can be computed afterwards. Every loop is bounded:
orders stop at ``stop``, retries after their last backoff, and :meth:`Traffic.finish` waits for
the retries in hand at most ``timeout`` seconds.
"""

from __future__ import annotations

import heapq
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from bus.tools.local.stack import SHOP
from simulators.storefront.orders import PROFILES as ORDER_PROFILES

log = logging.getLogger("ecombus.chaos.traffic")

PROFILES = ("jp", "de", "cn", "kw", "us")
WOOCOMMERCE_EVERY = 5
WOOCOMMERCE_SHOP = "shop.example.de"
RETRY_BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0)
FIRST_SHOPIFY_ID = 6120010000
"""The storefront simulator's generated order ``#n`` has id FIRST_SHOPIFY_ID + n."""


WOOCOMMERCE_LINES = {"WHISK-BAMBOO": 1, "MATCHA-40G": 1}
"""The WooCommerce fixture's lines (SKU → quantity)."""


def expected_demand(orders: float) -> dict[str, float]:
    """Units per SKU that ``orders`` orders of this traffic's mix ask for, on average (a generated
    Shopify line asks for 1 to 3 units, 2 on average)."""
    demand: dict[str, float] = {}
    shopify = orders * (1 - 1 / WOOCOMMERCE_EVERY) / len(PROFILES)
    for name in PROFILES:
        for sku, _title, _price in ORDER_PROFILES[name].products:
            demand[sku] = demand.get(sku, 0.0) + 2 * shopify
    for sku, units in WOOCOMMERCE_LINES.items():
        demand[sku] = demand.get(sku, 0.0) + units * orders / WOOCOMMERCE_EVERY
    return demand


@dataclass
class Attempt:
    """One delivery of a webhook: when (epoch s), the answer's status (None: no answer), seconds."""

    at: float
    status: int | None
    seconds: float | None
    delivery_id: str | None = None

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class SentOrder:
    """An order the traffic created and delivered, and every attempt at delivering it."""

    number: int
    platform: str
    order_id: str
    """The bus's order id (``shopify:<shop>:<id>``)."""
    store_id: int
    index: int | None = None
    """The storefront simulator's delivery index (what ``/_sim/redeliver`` takes)."""
    attempts: list[Attempt] = field(default_factory=list)
    tracking: str | None = None

    @property
    def acknowledged(self) -> bool:
        return any(a.acknowledged for a in self.attempts)


@dataclass
class Shipment:
    """A parcel sent for an order, and whether one send of its whole life was answered 2xx."""

    order_id: str
    tracking: str
    sends: int = 0
    acknowledged: bool = False


class Traffic:
    """Orders and parcels through the running simulators (see the module docstring).

    Args:
        storefront_url / carrier_url: the simulators.
        rate: orders per second.
        seed: decides profiles' order, duplicates, parcels' providers and shuffling.
        ship_every: every n-th acknowledged Shopify order gets a parcel (0: none).
        duplicate_share: share of acknowledged orders delivered once more.
        workers: deliveries in flight at most (a slow bus lowers the achieved rate, reported).
    """

    def __init__(self, storefront_url: str, carrier_url: str, *, rate: float, seed: int,
                 ship_every: int = 4, duplicate_share: float = 0.05, workers: int = 24) -> None:
        self.storefront_url, self.carrier_url = storefront_url, carrier_url
        self.rate, self.ship_every, self.duplicate_share = rate, ship_every, duplicate_share
        self._rng = random.Random(seed)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="chaos-traffic")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._retries: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = 0
        self._busy = 0
        self._acked_shopify = 0
        self.orders: list[SentOrder] = []
        self.shipments: list[Shipment] = []
        self.started_at = 0.0

    # -- the loops -------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Send orders at ``rate`` until ``stop`` is set (retries are served meanwhile)."""
        self.started_at = time.time()
        began, number = time.monotonic(), 0
        while not stop.is_set():
            number += 1
            self._submit(self._new_order, number)
            self._serve_retries()
            pause = began + number / self.rate - time.monotonic()
            if pause > 0:
                stop.wait(pause)

    def finish(self, timeout: float) -> int:
        """Serve the retries in hand until none is left or ``timeout`` passed; the retries left."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._serve_retries()
            with self._lock:
                if not self._retries and not self._busy:
                    break
            time.sleep(0.2)
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            return len(self._retries)

    def _serve_retries(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = []
            while self._retries and self._retries[0][0] <= now:
                due.append(heapq.heappop(self._retries)[2])
        for action in due:
            self._submit(action)

    def _later(self, seconds: float, action: Callable[[], None]) -> None:
        with self._lock:
            self._sequence += 1
            heapq.heappush(self._retries, (time.monotonic() + seconds, self._sequence, action))

    def _submit(self, action: Callable[..., None], *args: Any) -> None:
        with self._lock:
            self._busy += 1
        self._pool.submit(self._guarded, action, *args)

    def _guarded(self, action: Callable[..., None], *args: Any) -> None:
        try:
            action(*args)
        except Exception:  # a bug here must not silently stop the traffic: log it, go on
            log.exception("traffic action failed")
        finally:
            with self._lock:
                self._busy -= 1

    # -- orders ------------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(timeout=30.0)
        return client

    def _new_order(self, number: int) -> None:
        with self._lock:
            woo = number % WOOCOMMERCE_EVERY == 0
            profile = PROFILES[self._rng.randrange(len(PROFILES))]
        if woo:
            request: dict[str, Any] = {"platform": "woocommerce", "number": number}
            order = SentOrder(number, "woocommerce", f"woocommerce:{WOOCOMMERCE_SHOP}:{number}", number)
        else:
            request = {"platform": "shopify", "profile": profile, "number": number}
            store_id = FIRST_SHOPIFY_ID + number
            order = SentOrder(number, "shopify", f"shopify:{SHOP}:{store_id}", store_id)
        with self._lock:
            self.orders.append(order)
        at = time.time()
        try:
            answer = self._client().post(f"{self.storefront_url}/_sim/orders", json=request)
            answer.raise_for_status()
            delivery = answer.json()["delivery"]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("order %d could not be created: %s", number, exc)
            order.attempts.append(Attempt(at, None, None))
            return
        order.index = delivery["index"]
        self._delivered(order, delivery, at, retry=0)

    def _delivered(self, order: SentOrder, delivery: dict[str, Any], at: float, retry: int) -> None:
        attempt = Attempt(at, delivery.get("status"), delivery.get("seconds"), delivery.get("delivery_id"))
        order.attempts.append(attempt)
        if not attempt.acknowledged:
            if retry < len(RETRY_BACKOFF):
                self._later(RETRY_BACKOFF[retry], lambda: self._redeliver(order, retry + 1))
            return
        with self._lock:
            duplicate = retry == 0 and self._rng.random() < self.duplicate_share
            ship = False
            if order.platform == "shopify" and order.tracking is None:
                self._acked_shopify += 1
                ship = self.ship_every > 0 and self._acked_shopify % self.ship_every == 0
                if ship:
                    order.tracking = f"1ZCHAOS{order.number:09d}"
        if duplicate:
            self._later(0.5, lambda: self._redeliver(order, -1))
        if ship:
            self._later(1.0, lambda: self._ship(Shipment(order.order_id, order.tracking or "")))

    def _redeliver(self, order: SentOrder, retry: int) -> None:
        """Send the order's first delivery again (``retry`` -1: a platform's duplicate)."""
        at = time.time()
        try:
            answer = self._client().post(f"{self.storefront_url}/_sim/redeliver", json={"index": order.index})
            answer.raise_for_status()
            delivery = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("redelivery of order %d failed at the simulator: %s", order.number, exc)
            delivery = {"status": None}
        if retry < 0:
            order.attempts.append(Attempt(at, delivery.get("status"), delivery.get("seconds"),
                                          delivery.get("delivery_id")))
        else:
            self._delivered(order, delivery, at, retry)

    # -- parcels -----------------------------------------------------------------------------

    def _ship(self, shipment: Shipment) -> None:
        with self._lock:
            if shipment not in self.shipments:
                self.shipments.append(shipment)
            provider = "easypost" if self._rng.random() < 0.5 else "aftership"
            shuffled = self._rng.random() < 0.3
        reference = shipment.order_id.rsplit(":", 1)[1]
        shipment.sends += 1
        try:
            answer = self._client().post(f"{self.carrier_url}/_sim/shipments", json={
                "order_reference": reference, "tracking_code": shipment.tracking, "provider": provider,
                "carrier": "UPS", "out_of_order": shuffled, "duplicate": shuffled})
            answer.raise_for_status()
            statuses = [s.get("http_status") for s in answer.json()["sent"]]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("parcel %s could not be sent: %s", shipment.tracking, exc)
            statuses = [None]
        if all(s is not None and 200 <= s < 300 for s in statuses):
            shipment.acknowledged = True
        elif shipment.sends <= len(RETRY_BACKOFF):
            self._later(RETRY_BACKOFF[shipment.sends - 1], lambda: self._ship(shipment))

    # -- figures -----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Orders sent and acknowledged so far, retries waiting (for the heartbeat)."""
        with self._lock:
            orders = list(self.orders)
            waiting = len(self._retries)
        return {"sent": len(orders), "acknowledged": sum(o.acknowledged for o in orders), "waiting": waiting}

    def attempts(self) -> list[Attempt]:
        """Every order delivery attempt so far, in no particular order."""
        with self._lock:
            orders = list(self.orders)
        return [a for o in orders for a in list(o.attempts)]
