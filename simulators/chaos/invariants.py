"""The invariants a chaos run checks, each a row of the final table with a verdict.

Every row says what was measured and whether the promise held (``ok`` True / False) or is a
figure for people (``ok`` None). The promises, and the paths they are about:

==========================  ==================================================================
orders                      sent, acknowledged (2xx), still unacknowledged (figures)
intake                      every acknowledged delivery is on intake.storefronts.v1
orders.placed.v1            every acknowledged order is on it (lost 0); once (duplicated 0,
                            exactly-once stage); a Shopify order never acknowledged is there
                            too (reconciliation)
reservations                every order decided exactly once (exactly-once)
oversold                    per SKU and location, units reserved <= units the ERP had
stock                       inventory-sync's sellable level and the storefront's = ERP - reserved
ERP rows                    every order's lines in the ERP import files, once (the spool)
cXML orders                 every order at the ERP under one payloadID (redeliveries of that
                            payloadID are at-least-once and counted apart)
fulfillments                every parcel's tracking number pushed to the store (at least once:
                            pushed again after a SIGKILL between the store's answer and the
                            mark is counted apart)
DELIVERED                   every parcel's order reached DELIVERED on orders.status.v1
CRM figures                 every customer's order count and spend per currency exact
dead letters                transient ones while a fault lasted are expected; any other is not
==========================  ==================================================================

:func:`pending` is what the runner waits on while the bus settles: the eventual promises
(nothing missing yet, figures exact) on the evidence so far.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bus.observability.masking import mask_text
from services.router.formats.cxml import order_id_for_erp
from simulators.chaos.evidence import DeadLetter, Evidence
from simulators.chaos.traffic import SentOrder, Shipment
from simulators.storefront.state import CATALOG, LOCATIONS

EXAMPLES = 5


@dataclass
class Row:
    """One line of the table."""

    name: str
    figures: str
    ok: bool | None = None
    examples: list[str] = field(default_factory=list)
    waiting: bool = False
    """Something is still missing or inexact, which the bus may yet settle (not a duplicate)."""


@dataclass(frozen=True)
class Window:
    """A time a fault lasted (epoch seconds), for telling expected dead letters and slow webhooks."""

    start: float
    end: float
    kind: str = ""
    """``broker`` (a broker killed or paused), ``edge`` (an order-capture replica killed), ``other``."""


def _examples(missing: Sequence[str], doubled: Mapping[str, int], sign: str = "x") -> list[str]:
    return ([f"missing {m}" for m in missing[:EXAMPLES]]
            + [f"{k} {sign}{n}" for k, n in list(doubled.items())[:EXAMPLES]])


def _counted(name: str, figures: str, bad: Sequence[str], *, waiting: bool = True) -> Row:
    return Row(name, figures, not bad, [str(b) for b in bad[:EXAMPLES]], waiting=waiting and bool(bad))


def order_rows(ev: Evidence, orders: Sequence[SentOrder]) -> list[Row]:
    acked = [o for o in orders if o.acknowledged]
    never = [o for o in orders if not o.acknowledged]
    lost = [o.order_id for o in acked if o.order_id not in ev.placed]
    unreconciled = [o.order_id for o in never if o.platform == "shopify" and o.order_id not in ev.placed]
    duplicated = {k: n for k, n in ev.placed.items() if n > 1}
    stored = {a.delivery_id for o in orders for a in o.attempts if a.acknowledged and a.delivery_id}
    unstored = sorted(stored - ev.intake_deliveries)
    attempts = sum(len(o.attempts) for o in orders)
    return [
        Row("orders", f"{len(orders)} sent, {len(acked)} acknowledged (2xx), {len(never)} never "
                      f"acknowledged; {attempts} deliveries"),
        _counted("intake", f"{len(stored)} acknowledged deliveries, {len(unstored)} not on "
                           "intake.storefronts.v1", unstored, waiting=False),
        Row("orders.placed.v1", f"{len(ev.placed)} orders, lost {len(lost)}, duplicated "
                                f"{sum(n - 1 for n in duplicated.values())}, unacknowledged Shopify orders "
                                f"not reconciled {len(unreconciled)}",
            not (lost or duplicated or unreconciled),
            [f"lost {o}" for o in lost[:EXAMPLES]] + _examples([], duplicated)
            + [f"not reconciled {o}" for o in unreconciled[:EXAMPLES]], waiting=bool(lost or unreconciled)),
    ]


def stock_rows(ev: Evidence, stock: dict[tuple[str, str], int]) -> list[Row]:
    missing = [o for o in ev.orders if o not in ev.reservations]
    duplicated = {k: len(v) for k, v in ev.reservations.items() if len(v) > 1}
    reserved: Counter[tuple[str, str]] = Counter()
    for records in ev.reservations.values():
        for line in records[0]["lines"]:
            if line.get("location"):
                reserved[(line["sku"], line["location"])] += int(line["reserved"])
    oversold = [f"{sku}@{loc}: {reserved[(sku, loc)]} reserved of {units}"
                for (sku, loc), units in sorted(stock.items()) if reserved[(sku, loc)] > units]
    shown = {(level["inventory_item_id"], level["location_id"]): level["available"]
             for level in ev.store.get("inventory", [])}
    wrong = []
    for (sku, loc), units in sorted(stock.items()):
        expected = max(0, units - reserved[(sku, loc)])
        net, store = ev.net_levels.get((sku, loc)), shown.get((CATALOG[sku], LOCATIONS[loc]))
        if net != expected or store != expected:
            wrong.append(f"{sku}@{loc}: ERP - reserved = {expected}, inventory-sync {net}, "
                         f"storefront {store}")
    sold_out = sum(1 for key, units in stock.items() if reserved[key] >= units)
    return [
        Row("reservations", f"{len(ev.reservations)} orders decided, missing {len(missing)}, duplicated "
                            f"{sum(n - 1 for n in duplicated.values())}", not (missing or duplicated),
            _examples(missing, duplicated),
            waiting=bool(missing)),
        _counted("oversold", f"{len(oversold)} of {len(stock)} SKU/location pairs over the ERP's count "
                             f"({sold_out} sold out, {sum(reserved.values())} units reserved)", oversold,
                 waiting=False),
        _counted("stock", f"{len(stock) - len(wrong)} of {len(stock)} levels exact (inventory-sync and "
                          "storefront = ERP - reserved)", wrong),
    ]


def erp_rows(ev: Evidence) -> list[Row]:
    by_erp_id = {order_id_for_erp(o): o for o in ev.orders.values()}
    rows: Counter[str] = Counter(r.get("External ID", "") for r in ev.erp.get("imports", {}).get("rows", []))
    missing = [i for i in by_erp_id if not rows[i]]
    extra = {i: rows[i] - len(o["lines"]) for i, o in by_erp_id.items() if rows[i] > len(o["lines"])}
    payloads: dict[str, set[str]] = defaultdict(set)
    for order in ev.erp.get("orders", []):
        payloads[order["order_id"]].add(order["payload_id"])
    no_cxml = [i for i in by_erp_id if i not in payloads]
    twice = {i: len(p) for i, p in payloads.items() if len(p) > 1}
    return [
        Row("ERP rows", f"{sum(rows.values())} rows for {len(by_erp_id) - len(missing)} orders, missing "
                        f"{len(missing)}, duplicated {sum(extra.values())}", not (missing or extra),
            _examples(missing, extra, "+"),
            waiting=bool(missing)),
        Row("cXML orders", f"{len(payloads)} orders, missing {len(no_cxml)}, duplicated "
                           f"{sum(n - 1 for n in twice.values())} (same payloadID again: "
                           f"{len(ev.erp.get('redelivered', []))}, at-least-once)", not (no_cxml or twice),
            _examples(no_cxml, twice),
            waiting=bool(no_cxml)),
    ]


def shipment_rows(ev: Evidence, shipments: Sequence[Shipment]) -> list[Row]:
    acked = [s for s in shipments if s.acknowledged]
    pushed = Counter(f["tracking_number"] for f in ev.store.get("fulfillments", []))
    missing = [s.tracking for s in acked if not pushed[s.tracking]]
    twice = {t: n for t, n in pushed.items() if n > 1}
    undelivered = [s.order_id for s in acked if "DELIVERED" not in ev.statuses.get(s.order_id, set())]
    return [
        Row("fulfillments", f"{len(acked)} parcels acknowledged ({len(shipments) - len(acked)} not), "
                            f"{sum(pushed.values())} pushed, missing {len(missing)}, pushed again "
                            f"{sum(n - 1 for n in twice.values())} (at-least-once)", not missing,
            _examples(missing, twice),
            waiting=bool(missing)),
        _counted("DELIVERED", f"{len(acked) - len(undelivered)} of {len(acked)} parcels' orders DELIVERED",
                 undelivered),
    ]


def crm_rows(ev: Evidence) -> list[Row]:
    expected: dict[str, dict[str, Any]] = {}
    for order in ev.orders.values():
        email = (order["customer"].get("email") or "").strip().lower()
        figures = expected.setdefault(email, {"count": 0, "spend": defaultdict(Decimal)})
        figures["count"] += 1
        shop = order["totals"]["total"]["shop"]
        figures["spend"][shop["currency"]] += Decimal(shop["amount"])
    contacts = ev.crm.get("contacts", {})
    wrong = []
    for email, figures in sorted(expected.items()):
        props = contacts.get(email, {}).get("properties", {})
        spend = {k.rsplit("_", 1)[-1].upper(): Decimal(v) for k, v in props.items()
                 if k.startswith("ecombus_lifetime_spend_")}
        want = {c: a for c, a in figures["spend"].items()}
        if props.get("ecombus_orders_count") != str(figures["count"]) or spend != want:
            wrong.append(f"{mask_text(email)}: {props.get('ecombus_orders_count')} orders "
                         f"{_money(spend)}, expected {figures['count']} {_money(want)}")
    return [_counted("CRM figures", f"{len(expected) - len(wrong)} of {len(expected)} customers exact "
                                    "(orders counted, spend per currency)", wrong)]


def _money(spend: dict[str, Decimal]) -> str:
    return ", ".join(f"{amount.normalize():f} {currency}" for currency, amount in sorted(spend.items()))


def dead_letter_rows(dead: Sequence[DeadLetter], windows: Sequence[Window], replayed: int) -> list[Row]:
    expected = [d for d in dead if is_expected(d, windows)]
    unexpected = [d for d in dead if not is_expected(d, windows)]
    by_service = Counter(d.service for d in expected)
    return [Row("dead letters", f"{len(expected)} expected (transient, while a fault lasted: "
                                f"{', '.join(f'{s} {n}' for s, n in sorted(by_service.items())) or 'none'}; "
                                f"{replayed} replayed), {len(unexpected)} unexpected", not unexpected,
                [f"{d.service} {d.kind}: {d.reason}" for d in unexpected[:EXAMPLES]])]


def is_expected(letter: DeadLetter, windows: Sequence[Window]) -> bool:
    """A transient failure that began while a fault lasted (or just after: retries back off)."""
    return letter.kind == "transient" and any(w.start <= letter.first_failure <= w.end for w in windows)


def judge(ev: Evidence, orders: Sequence[SentOrder], shipments: Sequence[Shipment],
          stock: dict[tuple[str, str], int]) -> list[Row]:
    """Every row that the evidence decides (dead letters, faults and latency are the report's)."""
    return (order_rows(ev, orders) + stock_rows(ev, stock) + erp_rows(ev) + shipment_rows(ev, shipments)
            + crm_rows(ev))


def pending(rows: Sequence[Row]) -> list[str]:
    """The eventual promises not met yet (empty: the bus has settled, or cannot settle further)."""
    return [f"{row.name}: {row.figures}" for row in rows if row.waiting]
