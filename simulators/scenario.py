"""The demo's story, pushed through the running simulators (``make demo``).

Orders arrive from three platforms in five currencies and four scripts (the Shopify fixture:
USD shop, JPY customer, Japanese address), one webhook is forged (401, nothing published), one is
redelivered (answered, not published twice), one is lost on the way (reconciliation backfills
it), and two parcels are tracked: one whose carrier updates arrive out of order and duplicated,
one in order. Each step is described for people as it happens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from simulators.storefront.orders import FIRST_ORDER_ID

SHOP = "hanako-tea.myshopify.com"
ORDERS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("Shopify fixture #1042, USD shop / JPY customer, Japanese address", {"event_id": "demo-evt-1042"}),
    ("Shopify #2001, USD / JPY, Osaka, full-width digits", {"profile": "jp", "number": 2001}),
    ("Shopify #2002, EUR, Düsseldorf, umlauts and ß", {"profile": "de", "number": 2002}),
    ("Shopify #2003, CNY, Shanghai, Chinese", {"profile": "cn", "number": 2003}),
    ("Shopify #2004, KWD (three decimals), Kuwait City, Arabic", {"profile": "kw", "number": 2004}),
    ("WooCommerce #727, EUR, München", {"platform": "woocommerce"}),
    ("BigCommerce #250, GBP, Galway (thin webhook: order fetched from the API)", {"platform": "bigcommerce"}),
    ("WooCommerce #728, total written '51,30' by a store plugin (dead-lettered: fix it in the console)",
     {"platform": "woocommerce", "number": 728, "fields": {"total": "51,30"}}),
)
RETURNED = [{"sku": "HOJICHA-100G", "quantity": 1, "reason": "unwanted"}]
AFTER_SALE: tuple[tuple[str, int, dict[str, Any], str], ...] = (
    ("cancel", FIRST_ORDER_ID + 2002, {"reason": "customer"},
     "Shopify #2002 (EUR) cancelled by the customer: its stock holds are released"),
    ("refund", FIRST_ORDER_ID + 2004,
     {"lines": [{"sku": "MATCHA-40G", "quantity": 1, "restock_type": "return"}],
      "note": "the tin arrived dented", "refund_id": 509562001},
     "Shopify #2004 (KWD, three decimals) partly refunded: its MATCHA-40G, back to stock"),
    ("return", FIRST_ORDER_ID + 2001, {"step": "request", "return_id": 41, "lines": RETURNED},
     "Shopify #2001: the customer asks to return 1 HOJICHA-100G"),
    ("return", FIRST_ORDER_ID + 2001, {"step": "process", "return_id": 41, "lines": RETURNED},
     "Shopify #2001: the returned HOJICHA-100G is received back"),
    ("dispute", 6120004415,
     {"dispute_id": 51, "status": "needs_response", "amount": "38.63", "reason": "fraudulent",
      "create": True},
     "Shopify #1042: the card holder disputes the payment (chargeback, fraudulent)"),
)
"""After the sale: what the demo does to orders it placed (storefront simulator controls)."""

BROKEN_ORDER_ID = "woocommerce:shop.example.de:728"
"""The order the demo leaves dead-lettered for a person to fix and replay (console, dead letters)."""


def after_sale(storefront_url: str, say: Callable[[str], None] = print) -> list[Step]:
    """Cancel, refund, return and dispute demo orders (:data:`AFTER_SALE`); each webhook's answer."""
    steps = []
    with httpx.Client(base_url=storefront_url, timeout=60) as store:
        for action, order_id, request, what in AFTER_SALE:
            answer = store.post(f"/_sim/orders/{order_id}/{action}", json=request)
            answer.raise_for_status()
            delivery = answer.json().get("delivery") or {}
            step = Step(what, delivery.get("status"), _outcome(delivery))
            say(f"{what:75} → {step.status or '-'} {step.outcome}")
            steps.append(step)
    return steps


@dataclass
class Step:
    """One thing the scenario did and the answer it got."""

    what: str
    status: int | None
    outcome: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scenario:
    """What was pushed; the ids the demo then looks for on the bus."""

    steps: list[Step] = field(default_factory=list)
    lost_order_id: str = ""
    tracked: dict[str, str] = field(default_factory=dict)
    """order id → tracking number."""


def _outcome(delivery: dict[str, Any]) -> str:
    if delivery.get("dropped"):
        return "dropped on the way (never arrived)"
    answer = delivery.get("answer")
    if isinstance(answer, dict):
        return str(answer.get("status") or answer.get("error"))
    return str(answer)


def push(storefront_url: str, carrier_url: str, say: Callable[[str], None] = print) -> Scenario:
    """Run the scenario against running simulators; returns what happened at each step."""
    done = Scenario()
    with httpx.Client(base_url=storefront_url, timeout=60) as store:

        def order(what: str, request: dict[str, Any]) -> dict[str, Any]:
            answer = store.post("/_sim/orders", json={"platform": "shopify", **request})
            answer.raise_for_status()
            delivery = answer.json()["delivery"]
            step = Step(what, delivery.get("status"), _outcome(delivery), answer.json()["order"])
            done.steps.append(step)
            say(f"{what:75} → {step.status or '-'} {step.outcome}")
            return dict(answer.json())

        first = order(*ORDERS[0])
        for what, request in ORDERS[1:]:
            order(what, request)
        order("Shopify #2005 with a forged signature",
              {"profile": "us", "number": 2005, "bad_signature": True})
        again = store.post("/_sim/redeliver", json={"index": first["delivery"]["index"]}).json()
        done.steps.append(Step("Shopify #1042 delivered again (same X-Shopify-Event-Id)", again.get("status"),
                               _outcome(again)))
        say(f"{done.steps[-1].what:75} → {again.get('status')} {_outcome(again)}")
        lost = order("Shopify #2006, JPY, webhook lost (reconciliation backfills it)",
                     {"profile": "jp", "number": 2006, "drop": True})
        done.lost_order_id = f"shopify:{SHOP}:{lost['order']['id']}"
    with httpx.Client(base_url=carrier_url, timeout=60) as carrier:
        parcels = [("6120004415", "1Z999AA10123456784", "aftership", True),
                   (str(FIRST_ORDER_ID + 2002), "EZ4000000004", "easypost", False)]
        for reference, tracking, provider, shuffled in parcels:
            answer = carrier.post("/_sim/shipments", json={
                "order_reference": reference, "tracking_code": tracking, "provider": provider,
                "carrier": "UPS", "out_of_order": shuffled, "duplicate": shuffled}).json()
            sent = ", ".join(f"{s['status']}→{_outcome(s)}" for s in answer["sent"])
            how = "out of order, duplicated" if shuffled else "in order"
            say(f"{provider} {tracking} for order {reference} ({how}): {sent}")
            done.tracked[f"shopify:{SHOP}:{reference}"] = tracking
    return done
