"""What a chaos run reads back to judge the bus: the topics and the simulators' records.

:class:`Evidence` reads each topic it needs incrementally (every call of :meth:`Evidence.refresh`
reads only what was appended since the last one, under ``read_committed``, so it can be polled
while the bus settles) and asks the simulators what they received. It keeps facts, not
verdicts; :mod:`simulators.chaos.invariants` judges them.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from confluent_kafka import Consumer, Message

from bus.runtime.dlq import ECOMBUS_PREFIX, header_dict
from bus.runtime.handlers import headers_of
from bus.runtime.table import partitions_of, read_to_end
from bus.serde import AvroDecoder, RegistryClient
from simulators.chaos.brokers import QUIET

DLQ_SERVICES = ("order-capture", "inventory-sync", "crm-updater", "shipping-tracker", "router")
DELIVERY_ID_HEADERS = ("x-shopify-webhook-id", "x-wc-webhook-delivery-id")
INVENTORY_SYNC = "inventory-sync"
READ_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class DeadLetter:
    """One record of a ``dlq.<service>`` topic, by its error headers."""

    service: str
    kind: str
    reason: str
    first_failure: float
    last_failure: float


class TopicTail:
    """Reads one topic from where the previous call stopped (every partition from the start at first)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "enable.auto.commit": False,
                                   "group.id": f"ecombus-chaos-{uuid.uuid4().hex}",
                                   "isolation.level": "read_committed", "enable.partition.eof": True,
                                   "logger": QUIET})
        self._next: dict[int, int] = {}

    def new(self) -> list[Message]:
        """The records appended since the last call, in offset order per partition."""
        if not self._next:
            self._next = dict.fromkeys(partitions_of(self._consumer, self.topic), -2)
        found = list(read_to_end(self._consumer, self.topic, READ_TIMEOUT_S, starts=dict(self._next)))
        for msg in found:
            self._next[msg.partition() or 0] = (msg.offset() or 0) + 1
        return found

    def close(self) -> None:
        self._consumer.close()


@dataclass
class Evidence:
    """The facts of one run, refreshed in place (see the module docstring).

    Attributes:
        placed: order id → records of it on orders.placed.v1.
        orders: order id → its first OrderPlaced (decoded).
        reservations: order id → every StockReservation of it (decoded).
        net_levels: (sku, location) → inventory-sync's latest sellable quantity.
        statuses: order id → every status it had on orders.status.v1.
        intake_deliveries: platform delivery ids stored on intake.storefronts.v1.
        dead_letters: every dead letter of the services.
        store / crm / erp: what the simulators answered last (``GET /_sim/received``).
    """

    placed: Counter[str] = field(default_factory=Counter)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    reservations: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    net_levels: dict[tuple[str, str], int] = field(default_factory=dict)
    statuses: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    intake_deliveries: set[str] = field(default_factory=set)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    store: dict[str, Any] = field(default_factory=dict)
    crm: dict[str, Any] = field(default_factory=dict)
    erp: dict[str, Any] = field(default_factory=dict)


class EvidenceReader:
    """Keeps an :class:`Evidence` up to date from the cluster and the simulators.

    Args:
        bootstrap / registry_url: the run's cluster and registry.
        simulators: ``storefront``, ``crm``, ``erp`` → base URL.
    """

    TOPICS = ("orders.placed.v1", "inventory.reservations.v1", "inventory.levels.v1", "orders.status.v1",
              "intake.storefronts.v1", *(f"dlq.{s}" for s in DLQ_SERVICES))

    def __init__(self, bootstrap: str, registry_url: str, simulators: dict[str, str]) -> None:
        self.simulators = simulators
        self.evidence = Evidence()
        self._decoder = AvroDecoder(RegistryClient(registry_url), use_contracts=False)
        self._tails = {topic: TopicTail(bootstrap, topic) for topic in self.TOPICS}

    def refresh(self) -> Evidence:
        """Read what is new on every topic and ask every simulator again.

        Raises:
            TransientError: a topic could not be read to its end in time.
            httpx.HTTPError: a simulator did not answer.
        """
        ev = self.evidence
        for msg in self._tails["orders.placed.v1"].new():
            order = self._decode(msg)
            ev.placed[order["order_id"]] += 1
            ev.orders.setdefault(order["order_id"], order)
        for msg in self._tails["inventory.reservations.v1"].new():
            reservation = self._decode(msg)
            ev.reservations[reservation["order_id"]].append(reservation)
        for msg in self._tails["inventory.levels.v1"].new():
            level = self._decode(msg)
            if level["meta"]["source"]["system"] == INVENTORY_SYNC:
                ev.net_levels[(level["sku"], level["location"])] = int(level["available"])
        for msg in self._tails["orders.status.v1"].new():
            status = self._decode(msg)
            ev.statuses[status["order_id"]].add(status["status"])
        for msg in self._tails["intake.storefronts.v1"].new():
            headers = self._decode(msg)["headers"]
            ev.intake_deliveries.update(headers[h] for h in DELIVERY_ID_HEADERS if h in headers)
        for service in DLQ_SERVICES:
            ev.dead_letters += [_dead_letter(service, m) for m in self._tails[f"dlq.{service}"].new()]
        with httpx.Client(timeout=60) as http:
            ev.store = http.get(f"{self.simulators['storefront']}/_sim/received").json()
            ev.crm = http.get(f"{self.simulators['crm']}/_sim/received").json()
            ev.erp = http.get(f"{self.simulators['erp']}/_sim/received").json()
        return ev

    def _decode(self, msg: Message) -> dict[str, Any]:
        return dict(self._decoder.decode(msg.topic() or "", msg.value() or b""))

    def close(self) -> None:
        for tail in self._tails.values():
            tail.close()


def _dead_letter(service: str, msg: Message) -> DeadLetter:
    headers = header_dict(headers_of(msg))

    def when(name: str) -> float:
        text = headers.get(ECOMBUS_PREFIX + name, "").replace("Z", "+00:00")
        try:
            return datetime.fromisoformat(text).timestamp()
        except ValueError:
            return 0.0

    reason = headers.get("__connect.errors.exception.message", "")[:200]
    return DeadLetter(service, headers.get(ECOMBUS_PREFIX + "kind", "?"), reason, when("first.failure"),
                      when("last.failure"))
