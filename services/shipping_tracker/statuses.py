"""The order status machine (monotonic) and the book of every order's current status.

Statuses only move forward. Ranks, lowest first::

    PLACED < ACCEPTED < RESERVED = BACKORDERED < SHIPPED < IN_TRANSIT
        < OUT_FOR_DELIVERY = DELIVERY_FAILED < DELIVERED < RETURNED < CANCELLED (final)

A status of a higher rank replaces a lower one; within one rank (out for delivery again after a
failed attempt) the newer scan wins. So a late IN_TRANSIT never undoes DELIVERED: it is recorded
on shipments.tracking.v1 but changes nothing.

:class:`StatusBook` rebuilds the current status of every order from orders.status.v1 (every
writer's OrderStatusChanged, not only ours), folding them with the same rule, and keeps tailing
it, so replicas and restarts agree.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from confluent_kafka import Message

from bus.contracts import models as m
from bus.errors import BusError
from bus.runtime.codec import Codec
from bus.runtime.table import CompactedTable
from bus.settings import ClientConfig

log = logging.getLogger("ecombus.shipping_tracker.statuses")

Status = m.OrderStatus
Shipment = m.ShipmentStatus
RANKS = {Status.PLACED: 0, Status.ACCEPTED: 1, Status.RESERVED: 2, Status.BACKORDERED: 2,
         Status.SHIPPED: 3, Status.IN_TRANSIT: 4, Status.OUT_FOR_DELIVERY: 5, Status.DELIVERY_FAILED: 5,
         Status.DELIVERED: 6, Status.RETURNED: 7, Status.CANCELLED: 8}
FINAL = frozenset({Status.CANCELLED})

SHIPMENT_TO_ORDER = {
    Shipment.PRE_TRANSIT: Status.SHIPPED, Shipment.IN_TRANSIT: Status.IN_TRANSIT,
    Shipment.OUT_FOR_DELIVERY: Status.OUT_FOR_DELIVERY,
    Shipment.AVAILABLE_FOR_PICKUP: Status.OUT_FOR_DELIVERY,
    Shipment.DELIVERED: Status.DELIVERED, Shipment.DELIVERY_FAILED: Status.DELIVERY_FAILED,
    Shipment.RETURNED: Status.RETURNED,
}
"""What a shipment status means for its order (cancelled labels and exceptions change nothing)."""


@dataclass(frozen=True)
class Known:
    """An order's current status, when the scan (or change) behind it happened, and its event."""

    status: m.OrderStatus
    at_ms: int
    event_id: str


def millis(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def advances(current: Known | None, status: m.OrderStatus, at_ms: int) -> bool:
    """Whether ``status`` (scanned at ``at_ms``) moves an order that is at ``current``."""
    if status not in RANKS:
        return False
    if current is None or current.status not in RANKS:
        return True
    if current.status in FINAL:
        return False
    new, old = RANKS[status], RANKS[current.status]
    if new != old:
        return new > old
    return status != current.status and at_ms > current.at_ms


class StatusBook:
    """Every order's current status, rebuilt from the status topic and kept current.

    Args:
        client_config: Kafka client settings.
        topic: the status topic (orders.status.v1).
        codec: decodes OrderStatusChanged.
    """

    def __init__(self, client_config: ClientConfig, topic: str, codec: Codec) -> None:
        self.topic, self._codec = topic, codec
        self._known: dict[str, Known] = {}
        self._lock = threading.Lock()
        self._table = CompactedTable(client_config, topic, self._read, group_id=f"{topic}.status-book")

    @property
    def loaded(self) -> bool:
        """True once the topic was read to its end."""
        return self._table.loaded

    def get(self, order_id: str) -> Known | None:
        with self._lock:
            return self._known.get(order_id)

    def apply(self, order_id: str, known: Known) -> bool:
        """Fold one status in; True when it changed the order's status."""
        with self._lock:
            current = self._known.get(order_id)
            if current is not None and current.event_id == known.event_id:
                return False
            if advances(current, known.status, known.at_ms):
                self._known[order_id] = known
                return True
            return False

    def start(self, timeout: float = 60.0) -> None:
        """Read the topic from the beginning (blocks until caught up), then keep tailing it.

        Raises:
            ConfigError: the topic does not exist.
            TransientError: it was not read to its end within ``timeout`` seconds.
        """
        self._table.load(timeout)
        log.info("status book loaded: %d orders from %s", len(self._known), self.topic)

    def _read(self, _key: bytes | None, value: bytes | None, _msg: Message) -> None:
        if not value:
            return
        try:
            event: dict[str, Any] = self._codec.decode(self.topic, value)
            self.apply(event["order_id"], Known(m.OrderStatus(event["status"]),
                                                millis(event["meta"]["occurred_at"]),
                                                event["meta"]["event_id"]))
        except (BusError, KeyError, TypeError, ValueError) as exc:
            log.warning("unreadable status record skipped: %s", exc)

    def close(self) -> None:
        self._table.close()
