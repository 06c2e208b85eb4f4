"""What one record becomes in the journey index: rows per table, gathered for one transaction.

:class:`Batch` folds records (:class:`Record`: position, key, headers and the decoded value) into
the rows :class:`~services.console.index.JourneyIndex` writes, by the role of the record's topic
(:class:`Topics`). It reads the fields of our contracts (schemas/*.avsc) and of the dead-letter
headers (:mod:`bus.runtime.dlq`). A value of the wrong shape for its topic (a field missing or of
another type) is counted in :attr:`Batch.skipped` and adds no row; its position still moves.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from bus.contracts.money import minor_units
from bus.ops.dlq import FIELDS, reason_of
from bus.ops.payment import PAYMENT_TOPICS, fact_of, fact_text
from bus.runtime.audit import AUDIT_TOPIC
from bus.runtime.dlq import CONNECT_PREFIX, ECOMBUS_PREFIX, header_dict
from services.console.journey import ERP_ROUTES, ROUTER, route_names

REPLAYED_FROM = "ecombus.replayed.from"
REPLAYED_BY = "ecombus.replayed.by"
"""The header ``ecombus dlq replay`` puts on a replayed record: ``<dlq topic>/<partition>/<offset>``."""


READ_FIELDS: dict[str, frozenset[str]] = {
    "ecombus.v1.Meta": frozenset({"occurred_at", "source", "correlation_id"}),
    "ecombus.v1.ProcessingRecord": frozenset({"meta", "service", "outcome", "duration_seconds", "attempts",
                                              "error", "topic", "partition", "offset", "handler", "route",
                                              "step", "order_id"}),
    "ecombus.v1.OrderPlaced": frozenset({"meta", "order_id", "platform_order_id", "order_number", "placed_at",
                                         "currency", "customer", "totals", "financial_status"}),
    "ecombus.v1.Customer": frozenset({"email"}),
    "ecombus.v1.OrderTotals": frozenset({"total"}),
    "ecombus.v1.MoneySet": frozenset({"shop", "presentment"}),
    "ecombus.v1.OrderCancelled": frozenset({"meta", "order_id", "reason", "restock"}),
    "ecombus.v1.OrderRefunded": frozenset({"meta", "order_id", "refund_id", "currency", "lines", "total",
                                           "reason"}),
    "ecombus.v1.RefundLine": frozenset({"quantity", "restock"}),
    "ecombus.v1.ReturnUpdated": frozenset({"meta", "order_id", "status", "lines"}),
    "ecombus.v1.ReturnLine": frozenset({"sku", "quantity", "reason"}),
    "ecombus.v1.DisputeUpdated": frozenset({"meta", "order_id", "dispute_id", "kind", "status", "amount",
                                            "reason", "evidence_due_by"}),
    "ecombus.v1.ReservationLine": frozenset({"sku", "requested", "reserved"}),
    "ecombus.v1.ShipmentUpdated": frozenset({"meta", "order_id", "carrier", "tracking_number", "status",
                                             "message", "location"}),
    "ecombus.v1.RawDelivery": frozenset({"meta", "channel", "topic", "path", "received_by", "remote_addr"}),
}
"""The fields :class:`Batch` reads, per record: a decoder may skip the others
(:class:`~services.console.decoding.RecordDecoder`'s ``keep``)."""


@dataclass(frozen=True)
class Topics:
    """Which topic plays which role (defaults: the production names, deploy/topics.yaml)."""

    audit: str = AUDIT_TOPIC
    placed: str = "orders.placed.v1"
    status: str = "orders.status.v1"
    reservations: str = "inventory.reservations.v1"
    shipments: str = "shipments.tracking.v1"
    intake: tuple[str, ...] = ("intake.storefronts.v1", "intake.carriers.v1")
    dlq_prefix: str = "dlq."
    cancellations: str = "orders.cancellations.v1"
    refunds: str = "orders.refunds.v1"
    returns: str = "orders.returns.v1"
    disputes: str = "orders.disputes.v1"

    def named(self) -> list[str]:
        """Every topic named here (dead-letter topics are found by :attr:`dlq_prefix`)."""
        return [self.audit, self.placed, self.status, self.reservations, self.shipments, *self.intake,
                self.cancellations, self.refunds, self.returns, self.disputes]

    def is_dead_letters(self, topic: str) -> bool:
        return topic.startswith(self.dlq_prefix)

    def service_of(self, dlq_topic: str) -> str:
        """The service whose dead letters ``dlq_topic`` holds (``dlq.router`` → ``router``)."""
        return dlq_topic[len(self.dlq_prefix):]


class Record(NamedTuple):
    """One record as the index takes it; ``value`` is decoded (None when it could not be)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    headers: list[tuple[str, bytes]] | None
    value: Any


class Ingested(NamedTuple):
    """What one batch did, per topic: records whose position moved, and those of them skipped."""

    records: Counter[str]
    skipped: Counter[str]


def money(value: dict[str, Any] | None) -> str | None:
    """``38.63 USD``: a Money in its currency's minor units (Avro decimals carry scale 4)."""
    if not value:
        return None
    amount, currency = value["amount"], value["currency"]
    if isinstance(amount, Decimal):
        amount = amount.quantize(Decimal(1).scaleb(-minor_units(currency)))
    return f"{amount} {currency}"


def epoch_ms(moment: int | datetime) -> int:
    """Epoch milliseconds of a timestamp-millis value, decoded as a number or as a datetime."""
    return moment if isinstance(moment, int) else int(moment.timestamp() * 1000)


class Batch:
    """Rows for every table, from records added in any order."""

    def __init__(self, topics: Topics) -> None:
        self.topics = topics
        self.rows: dict[str, list[tuple[Any, ...]]] = {
            name: [] for name in ("steps", "flow", "orders", "events", "received", "dead_letters", "replays",
                                  "erp_pending", "erp_sent", "erp_done", "positions")}
        self.skipped: Counter[str] = Counter()
        self._flow: Counter[tuple[int, str, str]] = Counter()
        self._positions: dict[tuple[str, int], list[int]] = {}
        self._roles = {topics.audit: self._audit, topics.placed: self._placed, topics.status: self._status,
                       topics.reservations: self._reservation, topics.shipments: self._shipment,
                       **dict.fromkeys(topics.intake, self._received), topics.cancellations: self._cancelled,
                       topics.refunds: self._refunded, topics.returns: self._return,
                       topics.disputes: self._disputed}

    def add(self, r: Record) -> None:
        """Fold one record in. Each role appends its rows only once all of them are made, so a
        value of the wrong shape leaves no partial rows behind."""
        role = self._roles.get(r.topic)
        try:
            if role is not None:
                if isinstance(r.value, dict):
                    role(r, r.value)
                else:
                    self.skipped[r.topic] += 1
            elif self.topics.is_dead_letters(r.topic):
                self._dead_letter(r)
            if r.headers:
                self._replay(r)
        except (KeyError, TypeError, AttributeError, ValueError, ArithmeticError):
            self.skipped[r.topic] += 1
        position = self._positions.get((r.topic, r.partition))
        if position is None:
            self._positions[(r.topic, r.partition)] = [r.offset + 1, 1, r.timestamp_ms]
        else:
            position[0] = max(position[0], r.offset + 1)
            position[1] += 1
            position[2] = max(position[2], r.timestamp_ms)

    def finish(self) -> dict[str, list[tuple[Any, ...]]]:
        """The rows per table, the per-second counts and the positions included."""
        self.rows["flow"] = [(*k, n) for k, n in self._flow.items()]
        self.rows["positions"] = [(t, p, *v) for (t, p), v in self._positions.items()]
        return self.rows

    def ingested(self) -> Ingested:
        records: Counter[str] = Counter()
        for (topic, _), (_, count, _) in self._positions.items():
            records[topic] += count
        return Ingested(records, self.skipped)

    def _audit(self, r: Record, v: dict[str, Any]) -> None:
        meta, error = v["meta"], v["error"]
        at = epoch_ms(meta["occurred_at"])
        order_id, service, outcome, handler, route = (v["order_id"], v["service"], v["outcome"],
                                                      v["handler"], v["route"])
        correlation_id = meta["correlation_id"]
        step = (order_id, None if correlation_id == order_id else correlation_id, at, service, handler,
                route, v["step"], outcome, v["topic"], v["partition"], v["offset"], v["attempts"],
                v["duration_seconds"], error["class_name"] if error else None,
                error["message"] if error else None, error["dlq_topic"] if error else None)
        to_erp = (service == ROUTER and outcome == "OK" and order_id
                  and not ERP_ROUTES.isdisjoint(route_names(handler, route)))
        self.rows["steps"].append(step)
        self._flow[(at // 1000, service, outcome)] += 1
        if to_erp:
            self.rows["erp_sent"].append((order_id, at))
            self.rows["erp_done"].append((order_id,))

    def _event(self, r: Record, v: dict[str, Any], kind: str, status: str | None,
               detail: str | None) -> tuple[Any, ...]:
        return (v["order_id"], r.timestamp_ms, kind, status, detail, v["meta"]["source"]["system"], r.topic,
                r.partition, r.offset)

    def _placed(self, r: Record, v: dict[str, Any]) -> None:
        meta, number = v["meta"], v["order_number"]
        email = (v["customer"] or {}).get("email")
        amount = money(v["totals"]["total"]["shop"])
        placed_at = epoch_ms(v["placed_at"])
        order = (v["order_id"], number, number.lstrip("#") if number else None, v["platform_order_id"],
                 meta["source"]["platform"], meta["source"]["system"], email,
                 email.casefold() if email else None, v["currency"], amount, placed_at,
                 meta["correlation_id"])
        payment = fact_text(fact_of(PAYMENT_TOPICS["orders.placed.v1"], v))
        event = self._event(r, v, "placed", payment, " · ".join(x for x in (number, amount) if x))
        self.rows["orders"].append(order)
        self.rows["events"].append(event)
        self.rows["erp_pending"].append((v["order_id"], placed_at))

    def _status(self, r: Record, v: dict[str, Any]) -> None:
        change = f"{v['previous_status'] or '-'} → {v['status']}"
        self.rows["events"].append(
            self._event(r, v, "status", v["status"], f"{change}: {v['reason']}" if v["reason"] else change))

    def _reservation(self, r: Record, v: dict[str, Any]) -> None:
        lines = ", ".join(f"{ln['sku']} {ln['reserved']}/{ln['requested']}" for ln in v["lines"])
        self.rows["events"].append(self._event(r, v, "reservation", v["result"], lines or None))

    def _shipment(self, r: Record, v: dict[str, Any]) -> None:
        where = v["location"] or {}
        place = ", ".join(x for x in (where.get("city"), where.get("country_code")) if x)
        detail = " · ".join(x for x in (f"{v['carrier']} {v['tracking_number']}", place, v["message"]) if x)
        self.rows["events"].append(self._event(r, v, "shipment", v["status"], detail))

    # after the sale: the payment kinds keep their payment fact (bus.ops.payment) as the status, and
    # the detail starts with the step's words ("refunded 19.31 USD (1 unit restocked) · reason")

    def _cancelled(self, r: Record, v: dict[str, Any]) -> None:
        stock = "stock returns" if v["restock"] else "stock kept aside"
        more = "; ".join(x for x in (v["reason"], stock) if x)
        fact = fact_text(fact_of("OrderCancelled", v))
        self.rows["events"].append(self._event(r, v, "cancelled", fact, f"cancelled · {more}"))

    def _refunded(self, r: Record, v: dict[str, Any]) -> None:
        units = sum(line["quantity"] for line in v["lines"] if line["restock"])
        words = f"refunded {money(v['total']['shop'])}"
        if units:
            words += f" ({units} unit{'s' if units != 1 else ''} restocked)"
        fact = fact_text(fact_of("OrderRefunded", v))
        self.rows["events"].append(self._event(r, v, "refunded", fact,
                                               " · ".join(x for x in (words, v["reason"]) if x)))

    def _return(self, r: Record, v: dict[str, Any]) -> None:
        lines = ", ".join(f"{ln['sku'] or 'no SKU'}: {ln['quantity']}"
                          + (f" ({ln['reason']})" if ln["reason"] else "") for ln in v["lines"])
        words = f"return {str(v['status']).lower().replace('_', ' ')}"
        self.rows["events"].append(self._event(r, v, "return", v["status"],
                                               " · ".join(x for x in (words, lines) if x)))

    def _disputed(self, r: Record, v: dict[str, Any]) -> None:
        status, reason = str(v["status"]), (v["reason"] or "no reason").replace("_", " ")
        words = {"NEEDS_RESPONSE": f"disputed: {reason}", "UNDER_REVIEW": f"dispute under review: {reason}",
                 "CHARGE_REFUNDED": "dispute closed: charge refunded"}.get(
            status, f"dispute {status.lower().replace('_', ' ')}")
        due = v["evidence_due_by"]
        more = f"{v['kind']} {money(v['amount'])}" + (
            f", evidence due {datetime.fromtimestamp(epoch_ms(due) / 1000, UTC).date()}" if due else "")
        self.rows["events"].append(self._event(r, v, "disputed", fact_text(fact_of("DisputeUpdated", v)),
                                               f"{words} · {more}"))

    def _received(self, r: Record, v: dict[str, Any]) -> None:
        meta = v["meta"]
        self.rows["received"].append((
            r.topic, r.partition, r.offset, meta["correlation_id"], epoch_ms(meta["occurred_at"]),
            v["channel"], v["path"], v["remote_addr"], v["received_by"], v["topic"]))

    def _dead_letter(self, r: Record) -> None:
        h = header_dict(r.headers)
        self.rows["dead_letters"].append((
            r.topic, r.partition, r.offset, self.topics.service_of(r.topic), h.get(FIELDS["topic"]),
            _int(h.get(f"{CONNECT_PREFIX}partition")), _int(h.get(f"{CONNECT_PREFIX}offset")), reason_of(h),
            h.get(FIELDS["exception"]), h.get(FIELDS["message"]), h.get(FIELDS["handler"]),
            h.get(FIELDS["route"]), h.get(FIELDS["step"]), h.get(FIELDS["kind"]),
            _int(h.get(f"{ECOMBUS_PREFIX}attempts")),
            r.key.decode("utf-8", "replace") if r.key is not None else None, r.timestamp_ms))

    def _replay(self, r: Record) -> None:
        origin = next((v for k, v in reversed(r.headers or []) if k == REPLAYED_FROM), None)
        if origin is None:
            return
        topic, partition, offset = origin.decode("utf-8", "replace").rsplit("/", 2)  # ValueError: skipped
        by = next((v for k, v in reversed(r.headers or []) if k == REPLAYED_BY), None)
        # the replayed copy keeps the dead letter's timestamp: when it was replayed is not known
        row = (topic, int(partition), int(offset),
               by.decode("utf-8", "replace") if by else f"{r.topic}/{r.partition}/{r.offset}", None)
        self.rows["replays"].append(row)


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
