"""Everything the storefront simulator knows and remembers, behind one lock.

Orders per platform, inventory levels (by Shopify inventory item id and location id), the
fulfillments it received, every API request (for assertions: ``GET /_sim/received``), every
webhook it delivered, and the faults it was asked to inject.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

CATALOG = {"MATCHA-40G": 808950810, "WHISK-BAMBOO": 808950811, "BOWL-CHAWAN": 808950812,
           "HOJICHA-100G": 808950813, "SENCHA-80G": 808950814, "LONGJING-50G": 808950815,
           "YUZU-SOAP": 808950816}
"""SKU → Shopify inventory_item_id."""
LOCATIONS = {"TOKYO-1": 655441491, "LA-1": 655441492}
"""Location code (as the ERP names it) → Shopify location_id."""
INITIAL_AVAILABLE = 100


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Fault:
    """Injected on the next ``count`` API calls whose path starts with ``path_prefix``."""

    count: int
    status: int | None = None
    latency_seconds: float = 0.0
    path_prefix: str = "/"


class StoreState:
    """The simulator's memory; every method is safe to call from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.orders: dict[str, dict[int, dict[str, Any]]] = {"shopify": {}, "woocommerce": {},
                                                                  "bigcommerce": {}}
            self.inventory: dict[tuple[int, int], dict[str, Any]] = {
                (item, location): {"inventory_item_id": item, "location_id": location,
                                   "available": INITIAL_AVAILABLE, "updated_at": now_iso()}
                for item in CATALOG.values() for location in LOCATIONS.values()}
            self.fulfillments: list[dict[str, Any]] = []
            self.requests: deque[dict[str, Any]] = deque(maxlen=2000)
            self.counts: Counter[str] = Counter()
            self.deliveries: list[dict[str, Any]] = []
            self.faults: list[Fault] = []
            self.drop_webhooks = 0
            self.refunds: dict[tuple[str, int], list[dict[str, Any]]] = {}
            self.next_id = 7_000_000_000

    # -- orders ----------------------------------------------------------------------------

    def add_order(self, platform: str, order: dict[str, Any]) -> None:
        with self._lock:
            self.orders[platform][int(order["id"])] = order

    def change_order(self, platform: str, order_id: int,
                     change: Callable[[dict[str, Any], int], Any]) -> tuple[dict[str, Any], Any] | None:
        """Apply ``change(order, new id)`` to a stored order under the lock (after-sale controls);
        returns a copy of the order and what ``change`` returned, or None when it is unknown."""
        with self._lock:
            order = self.orders[platform].get(order_id)
            if order is None:
                return None
            self.next_id += 10
            result = change(order, self.next_id)
            return json.loads(json.dumps(order)), result

    def add_refund(self, platform: str, order_id: int, refund: dict[str, Any]) -> None:
        """A WooCommerce or BigCommerce refund, as its refunds API lists it."""
        with self._lock:
            self.refunds.setdefault((platform, order_id), []).append(refund)

    def refunds_of(self, platform: str, order_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self.refunds.get((platform, order_id), [])]

    def order(self, platform: str, order_id: int) -> dict[str, Any] | None:
        with self._lock:
            return self.orders[platform].get(order_id)

    def orders_updated_between(self, low: datetime | None, high: datetime | None) -> list[dict[str, Any]]:
        """Shopify orders whose ``updated_at`` is within [low, high], oldest id first."""
        with self._lock:
            found = list(self.orders["shopify"].values())

        def inside(order: dict[str, Any]) -> bool:
            at = datetime.fromisoformat(order["updated_at"])
            return (low is None or at >= low) and (high is None or at <= high)

        return sorted((o for o in found if inside(o)), key=lambda o: int(o["id"]))

    # -- inventory and fulfillments --------------------------------------------------------

    def levels(self, items: set[int] | None, locations: set[int] | None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(level) for (item, location), level in sorted(self.inventory.items())
                    if (not items or item in items) and (not locations or location in locations)]

    def set_level(self, item: int, location: int, available: int) -> dict[str, Any]:
        with self._lock:
            level = {"inventory_item_id": item, "location_id": location, "available": available,
                     "updated_at": now_iso()}
            self.inventory[(item, location)] = level
            return dict(level)

    def adjust_level(self, item: int, location: int, adjustment: int) -> dict[str, Any]:
        with self._lock:
            current = self.inventory.get((item, location), {"available": 0})["available"]
        return self.set_level(item, location, current + adjustment)

    def add_fulfillment(self, order_id: int, fulfillment: dict[str, Any]) -> dict[str, Any] | None:
        """Record a fulfillment; None when the order is unknown."""
        with self._lock:
            order = self.orders["shopify"].get(order_id)
            if order is None:
                return None
            record = {"id": 4_100_000 + len(self.fulfillments), "order_id": order_id, "status": "success",
                      "created_at": now_iso(), **fulfillment}
            self.fulfillments.append(record)
            order["fulfillment_status"] = "fulfilled"
            order["updated_at"] = record["created_at"]
            return dict(record)

    # -- requests, deliveries, faults ------------------------------------------------------

    def record_request(self, method: str, route: str, status: int) -> None:
        with self._lock:
            self.requests.append({"method": method, "route": route, "status": status, "at": now_iso()})
            self.counts[f"{method} {route}"] += 1

    def record_delivery(self, delivery: dict[str, Any]) -> int:
        with self._lock:
            self.deliveries.append(delivery)
            return len(self.deliveries) - 1

    def delivery(self, index: int) -> dict[str, Any]:
        with self._lock:
            return dict(self.deliveries[index])

    def add_fault(self, fault: Fault, drop_webhooks: int = 0) -> None:
        with self._lock:
            if fault.count:
                self.faults.append(fault)
            self.drop_webhooks += drop_webhooks

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if path.startswith(fault.path_prefix) and fault.count > 0:
                    fault.count -= 1
                    if fault.count == 0:
                        self.faults.remove(fault)
                    return fault
            return None

    def take_drop(self) -> bool:
        """True if the next webhook is to be dropped (and counts it)."""
        with self._lock:
            if self.drop_webhooks > 0:
                self.drop_webhooks -= 1
                return True
            return False

    def snapshot(self) -> dict[str, Any]:
        """What ``GET /_sim/received`` shows."""
        with self._lock:
            return {"counts": dict(self.counts), "requests": list(self.requests),
                    "fulfillments": [dict(f) for f in self.fulfillments],
                    "inventory": [dict(level) for _, level in sorted(self.inventory.items())],
                    "deliveries": [dict(d) for d in self.deliveries],
                    "faults": [asdict(f) for f in self.faults], "drop_webhooks": self.drop_webhooks,
                    "orders": {p: sorted(o) for p, o in self.orders.items()}}
