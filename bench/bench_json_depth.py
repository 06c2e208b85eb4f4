"""What the JSON nesting bound costs at the webhook edge (``bus.webhooks.body``), no broker needed.

``parse_json_object`` measures a body's nesting before ``json.loads`` so a deeply nested body is
refused as malformed instead of exhausting the parser's recursion. Arms, on a realistic Shopify
``orders/create`` of about 5 KB (the fixture with four line items, each with its price sets, tax
lines, discount allocations and properties, so it has more opening brackets than the bound and
the full scan runs):

* ``parse``: ``json.loads`` as before (decode, Decimal fractions), the baseline.
* ``depth check``: ``too_deep`` alone, the added cost.
* ``parse_json_object``: both, what the edge now does.

Then the depth check on hostile 5 MiB bodies (deep, wide, quote-heavy), to show it stays bounded.
"""

from __future__ import annotations

import copy
import json
import time
import timeit
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bus.webhooks.body import DEFAULT_MAX_BODY_BYTES, too_deep
from bus.webhooks.body import parse_json_object as parse_with_bound
from simulators import fixture

ROUNDS = 5000


def say(text: str) -> None:
    print(f"    {text}", flush=True)


def realistic_order() -> bytes:
    """The Shopify fixture grown to the size and shape of a real four-line order (≈5 KB)."""
    order: dict[str, Any] = json.loads(fixture("shopify_orders_create.json"))
    line = order["line_items"][0]
    money = {"shop_money": {"amount": "17.80", "currency_code": "USD"},
             "presentment_money": {"amount": "2650", "currency_code": "JPY"}}
    lines = []
    for n in range(4):
        grown = copy.deepcopy(line)
        grown.update(id=line["id"] + n, variant_id=40_000_000 + n, product_id=8_000_000 + n,
                     price_set=money, total_discount_set=money,
                     tax_lines=[{"title": "JCT", "rate": 0.1, "price": "1.78", "price_set": money}],
                     discount_allocations=[{"amount": "0.00", "amount_set": money,
                                            "discount_application_index": 0}],
                     properties=[{"name": "gift wrap", "value": "のし紙"}],
                     fulfillment_status=None, requires_shipping=True, taxable=True, grams=40)
        lines.append(grown)
    order.update(line_items=lines, tax_lines=[{"title": "JCT", "rate": 0.1, "price": "7.12"}],
                 shipping_lines=[{"code": "EMS", "price": "0.00", "price_set": money}],
                 discount_codes=[], note_attributes=[{"name": "delivery", "value": "午前中"}],
                 total_price_set=money, subtotal_price_set=money, total_tax_set=money)
    return json.dumps(order, ensure_ascii=False).encode()


def parse_only(body: bytes) -> Any:
    return json.loads(body.decode("utf-8"), parse_float=Decimal)


def micros(call: Callable[[], object]) -> float:
    call()
    return min(timeit.repeat(call, number=ROUNDS, repeat=5)) / ROUNDS * 1e6


def main() -> None:
    """Run the benchmark and print the per-arm result lines."""
    body = realistic_order()
    openings = body.count(b"[") + body.count(b"{")
    say(f"body: {len(body)} bytes, {openings} opening brackets")
    results = {"parse": micros(lambda: parse_only(body)),
               "depth check": micros(lambda: too_deep(body)),
               "parse_json_object": micros(lambda: parse_with_bound(body))}
    say(f"the depth check adds {results['depth check'] / results['parse']:.0%} to parsing")
    size = DEFAULT_MAX_BODY_BYTES
    for name, hostile in {"5 MiB of [": b"[" * size, "5 MiB of []": b"[]" * (size // 2),
                          '5 MiB of "[': b'"[' * (size // 2), '5 MiB of \\"': b'"\\"' * (size // 3)}.items():
        started = time.perf_counter()
        refused = too_deep(hostile)
        say(f"{name}: {'refused' if refused else 'passed'} in {(time.perf_counter() - started) * 1e3:.0f} ms")
    for arm, value in results.items():
        print(f"{arm}: {value:.1f} µs per body", flush=True)


if __name__ == "__main__":
    main()
