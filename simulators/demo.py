"""``ecombus demo``: what ``make demo`` runs. Grows with every service that joins the bus.

It starts the whole local bus (``ecombus up``), proves a round trip, has the simulators push a
scenario through the services (simulators/scenario.py) and shows what reached the
topics and the store, decoded from Avro as ``ecombus tail`` does. Everything keeps running.
Contributed to ``ecombus`` through the ``ecombus.commands`` entry point ``demo``.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import httpx
from confluent_kafka import Consumer, TopicPartition

from bus.observability.masking import mask_text
from bus.ops.reading import partitions_of, read_to_end
from bus.ops.trace import payment_of
from bus.roundtrip import round_trip
from bus.serde import AvroCodec, AvroDecoder, RegistryClient
from bus.tools.cli.local import REGISTRY_PORT
from bus.tools.cli.output import heading, progress
from bus.tools.cli.stack import Infrastructure, print_summary, start_infrastructure, start_stack
from bus.tools.local.broker import DEFAULT_PORT
from bus.tools.local.stack import DEMO_CONSOLE_TOKENS, Stack
from simulators import scenario
from simulators.erp import drop_stock_file

WAIT_SECONDS = 90.0
LOCAL_STATE = (Path("var/router"), Path("var/erp"))
"""The local stack's folders (bus/tools/local/stack.py): the router's spools and the ERP's files. A fresh
demo empties them with the topics, or the router would take the new run's records for ones it wrote."""


def topic_values(infra: Infrastructure, topic: str) -> list[dict[str, Any]]:
    """Every value of ``topic`` up to its end, decoded with the schema it was written with."""
    decoder = AvroDecoder(RegistryClient(infra.registry), use_contracts=False)
    consumer = Consumer({"bootstrap.servers": infra.bootstrap, "enable.auto.commit": False,
                         "group.id": f"ecombus-demo-{uuid.uuid4().hex}"})
    try:
        starts = [TopicPartition(topic, p, -2) for p in partitions_of(consumer, topic)]
        values = [m.value() for m in read_to_end(consumer, starts)]
        return [decoder.decode(topic, value) for value in values if value]
    finally:
        consumer.close()


def _settled(infra: Infrastructure, store_url: str, story: scenario.Scenario) -> Callable[[], list[str]]:
    """What the bus has not shown yet (empty when the scenario's effects are all visible)."""

    def missing() -> list[str]:
        placed = {o["order_id"] for o in topic_values(infra, "orders.placed.v1")}
        statuses = topic_values(infra, "orders.status.v1")
        delivered = {s["order_id"] for s in statuses if s["status"] == "DELIVERED"}
        received = httpx.get(f"{store_url}/_sim/received").json()
        fulfilled = {f["tracking_number"] for f in received["fulfillments"]}
        gaps = [] if story.lost_order_id in placed else [f"{story.lost_order_id} not backfilled yet"]
        gaps += [f"{order} not DELIVERED yet" for order in story.tracked if order not in delivered]
        return gaps + [f"no fulfillment for {t} yet" for t in story.tracked.values()
                       if t not in fulfilled]

    return missing


def _money(money_set: dict[str, Any]) -> str:
    shop = f"{money_set['shop']['amount'].normalize():f} {money_set['shop']['currency']}"
    presentment = money_set.get("presentment")
    if not presentment:
        return shop
    return f"{shop} ({presentment['amount'].normalize():f} {presentment['currency']})"


def show(infra: Infrastructure, store_url: str, story: scenario.Scenario) -> None:
    """Print the orders, the statuses and the fulfillments the scenario produced."""
    click.echo("Orders on orders.placed.v1 (Avro, decoded with the registry's writer schema):")
    for order in topic_values(infra, "orders.placed.v1")[-12:]:
        name = f"{order['customer']['last_name'] or ''} {order['customer']['first_name'] or ''}".strip()
        city = (order["shipping_address"] or {}).get("city", "")
        total = _money(order["totals"]["total"])
        click.echo(f"  {order['order_id']:44} {order['order_number'] or '':6} {total:28} {name} · {city}")
    click.echo("\nStatuses on orders.status.v1 (monotonic: late scans change nothing):")
    for status in topic_values(infra, "orders.status.v1"):
        if status["order_id"] in story.tracked:
            change = f"{status['previous_status'] or '-':>16} → {status['status']:17}"
            click.echo(f"  {status['order_id']:44} {change} {status['reason'] or ''}")
    click.echo("\nFulfillments the storefront simulator received (one per tracking number):")
    for fulfillment in httpx.get(f"{store_url}/_sim/received").json()["fulfillments"]:
        click.echo(f"  order {fulfillment['order_id']}: {fulfillment['tracking_company']} "
                   f"{fulfillment['tracking_number']} {fulfillment['tracking_url']}")


def show_stock_and_customers(infra: Infrastructure, store_url: str, crm_url: str) -> None:
    """Drop a restock file into the ERP, wait for every order's reservation, show stock and the CRM."""
    as_of = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    restock = (f"sku,location,on_hand,reserved,as_of\nMATCHA-40G,TOKYO-1,240,4,{as_of}\n"
               f"HOJICHA-100G,TOKYO-1,50,0,{as_of}\nWHISK-BAMBOO,LA-1,24,0,{as_of}\n")
    drop_stock_file(Path("var/erp/stock"), restock.encode(), f"erp_stock_restock_{int(time.time())}.csv")
    progress("ERP restock file dropped (MATCHA-40G, HOJICHA-100G, WHISK-BAMBOO)")

    def waiting() -> set[str]:
        decided = {r["order_id"] for r in topic_values(infra, "inventory.reservations.v1")}
        return {o["order_id"] for o in topic_values(infra, "orders.placed.v1")} - decided

    deadline = time.monotonic() + WAIT_SECONDS
    while waiting() and time.monotonic() < deadline:
        time.sleep(2)
    time.sleep(3)  # the pusher's linger and the CRM flusher's batch
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for level in topic_values(infra, "inventory.levels.v1"):
        latest[(level["sku"], level["location"], level["meta"]["source"]["system"])] = level
    store = httpx.get(f"{store_url}/_sim/received").json()
    catalog = httpx.get(f"{store_url}/_sim/catalog").json()
    shown = {(lv["inventory_item_id"], lv["location_id"]): lv["available"] for lv in store["inventory"]}
    click.echo("Stock: ERP count → sellable after reservations (inventory-sync) → storefront:")
    for (sku, location, system), erp in sorted(latest.items()):
        if system == "inventory-sync":
            continue
        net = latest.get((sku, location, "inventory-sync"), erp)
        item = (catalog["inventory_items"].get(sku), catalog["locations"].get(location))
        held = net["reserved"] - erp["reserved"]
        click.echo(f"  {sku:14} {location:8} ERP {erp['available']:4}  held {held:3}"
                   f"  sellable {net['available']:4}  storefront {shown.get(item, '-')}")
    click.echo("\nReservations on inventory.reservations.v1:")
    for reservation in topic_values(infra, "inventory.reservations.v1"):
        lines = ", ".join(f"{ln['sku']} {ln['reserved']}/{ln['requested']}" for ln in reservation["lines"])
        click.echo(f"  {reservation['order_id']:44} {reservation['result']:12} {lines}")
    click.echo("\nCRM contacts (crm-updater → HubSpot-like batch upsert; lifetime figures per customer):")
    for email, contact in httpx.get(f"{crm_url}/_sim/received").json()["contacts"].items():
        props = contact["properties"]
        spend = ", ".join(f"{v} {k.rsplit('_', 1)[-1].upper()}" for k, v in sorted(props.items())
                          if k.startswith("ecombus_lifetime_spend_"))
        name = f"{props.get('lastname', '')} {props.get('firstname', '')}".strip()
        click.echo(f"  {mask_text(email):28} {name:20} orders {props['ecombus_orders_count']:>2}  {spend}")


AFTER_SALE_TOPICS = {"orders.cancellations.v1": 1, "orders.refunds.v1": 1, "orders.returns.v1": 2,
                     "orders.disputes.v1": 1}
"""The after-sale topics and how many events the demo's scenario puts on each."""


def _after_sale_events(infra: Infrastructure) -> dict[str, list[dict[str, Any]]]:
    return {topic: topic_values(infra, topic) for topic in AFTER_SALE_TOPICS}


def _what(topic: str, event: dict[str, Any]) -> str:
    if topic == "orders.cancellations.v1":
        return f"cancelled ({event['reason'] or '-'}), stock returns: {event['restock']}"
    if topic == "orders.refunds.v1":
        lines = ", ".join(f"{ln['quantity']} {ln['sku']}{' restocked' if ln['restock'] else ''}"
                          for ln in event["lines"])
        return f"refund {event['refund_id']}: {_money(event['total'])} ({lines or 'an amount'})"
    if topic == "orders.returns.v1":
        return f"return {event['return_id']} {event['status']}: " + ", ".join(
            f"{ln['quantity']} of line {ln['sku'] or ln['line_id']}" for ln in event["lines"])
    return f"dispute {event['dispute_id']} {event['status']}: {event['kind']} {event['reason'] or ''} " \
           f"{event['amount']['amount'].normalize():f} {event['amount']['currency']}"


def _storefront_levels(store_url: str) -> dict[tuple[str, str], int]:
    """(SKU, location id) → the available units the storefront was last told (its inventory API)."""
    store = httpx.get(f"{store_url}/_sim/received").json()
    catalog = httpx.get(f"{store_url}/_sim/catalog").json()
    skus = {v: k for k, v in catalog["inventory_items"].items()}
    locations = {v: k for k, v in catalog["locations"].items()}
    return {(skus.get(level["inventory_item_id"], str(level["inventory_item_id"])),
             locations.get(level["location_id"], str(level["location_id"]))): level["available"]
            for level in store["inventory"]}


def after_the_sale(infra: Infrastructure, store_url: str, erp_url: str, crm_url: str) -> list[str]:
    """Cancel, refund, return and dispute demo orders; show what the bus did. Returns what is missing."""
    before, deadline = _storefront_levels(store_url), time.monotonic() + 30
    while time.monotonic() < deadline:  # the pushes of the orders' holds are coalesced: let them land
        time.sleep(3)
        if (now := _storefront_levels(store_url)) == before:
            break
        before = now
    scenario.after_sale(store_url, progress)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        events = _after_sale_events(infra)
        memos = httpx.get(f"{erp_url}/_sim/received").json()["imports"]["credit_memos"]
        gaps = [f"{topic}: {len(events[topic])} of {n}" for topic, n in AFTER_SALE_TOPICS.items()
                if len(events[topic]) < n]
        gaps += [] if memos else ["no credit memo in the ERP's import folder yet"]
        if not gaps or time.monotonic() > deadline:
            break
        time.sleep(2)
    time.sleep(3)  # the pusher's linger and the CRM flusher's batch
    click.echo("After-sale events (order-capture, from the storefront's webhooks):")
    for topic, values in events.items():
        for event in values:
            click.echo(f"  {topic:24} {event['order_id']:44} {_what(topic, event)}")
    codec = AvroCodec(RegistryClient(infra.registry))
    click.echo("\nPayment status per order (what `ecombus trace` and the console's journey show):")
    for order_id in sorted({e["order_id"] for values in events.values() for e in values}):
        payment = payment_of({"bootstrap.servers": infra.bootstrap}, codec, order_id)
        click.echo(f"  {order_id:44} {payment.describe() if payment else '-'}")
    received = httpx.get(f"{erp_url}/_sim/received").json()
    click.echo("\nERP: credit memos imported (router, refunds-to-erp-csv) and received as cXML:")
    for row in received["imports"]["credit_memos"]:
        click.echo(f"  {row['External ID']:18} order {row['Order External ID']:16} {row['Item']:14} "
                   f"{row['Quantity']:>3} {row['Amount']:>8} {row['Currency']}  restock {row['Restock']}")
    for memo in received["credit_memos"]:
        click.echo(f"  cXML credit memo {memo.get('credit_memo_id')}: {memo.get('net_amount')} "
                   f"{memo.get('currency')}")
    for row in received["imports"]["return_authorizations"]:
        click.echo(f"  return authorization {row.get('External ID')}: {row.get('Item')} "
                   f"x{row.get('Quantity')}")
    after = _storefront_levels(store_url)
    click.echo("\nSellable stock the storefront was told, where it changed during the after-sale steps "
               "(before → after):")
    for sku, location in sorted(after):
        if after[(sku, location)] != before.get((sku, location)):
            was = before.get((sku, location), "-")
            click.echo(f"  {sku:14} {location:10} {was} → {after[(sku, location)]}")
    click.echo("\nCRM contacts after the sale (lifetime figures net of refunds and cancellations):")
    for email, contact in httpx.get(f"{crm_url}/_sim/received").json()["contacts"].items():
        props = contact["properties"]
        spend = ", ".join(f"{v} {k.rsplit('_', 1)[-1].upper()}" for k, v in sorted(props.items())
                          if k.startswith("ecombus_lifetime_spend_"))
        refund = f"  last refund {props['ecombus_last_refund_amount']}" if props.get(
            "ecombus_last_refund_amount") else ""
        click.echo(f"  {mask_text(email):28} orders {props['ecombus_orders_count']:>2}  {spend}{refund}")
    return gaps


@click.command("demo")
@click.option("--messages", default=1_000, show_default=True, help="Records in the round trip.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, help="Kafka client port on 127.0.0.1.")
@click.option("--registry-port", default=REGISTRY_PORT, show_default=True, envvar="ECOMBUS_REGISTRY_PORT")
@click.option("--keep-data", is_flag=True,
              help="Run on the topics an earlier run left. By default the demo starts from empty topics: "
                   "its scenario is the same every time and the simulators forget between runs what the "
                   "bus remembers, so on kept data every event would (rightly) be deduplicated.")
def demo(messages: int, port: int, registry_port: int, keep_data: bool) -> None:
    """Start the whole local bus, push a realistic scenario through it, show what happened.

    Everything an earlier run left running is stopped and the broker starts from empty topics,
    unless --keep-data is given.
    """
    if not keep_data:
        for name in Stack().down():  # its services hold the state of the topics about to go
            progress(f"{name} stopped (a fresh run follows)")
        for folder in LOCAL_STATE:  # what the router and the ERP kept of the topics about to go
            shutil.rmtree(folder, ignore_errors=True)
    infra = start_infrastructure(port, registry_port, fresh=not keep_data)
    stack = start_stack(infra)
    heading(f"round trip of {messages} records (acks=all, consumer group)")
    result = round_trip({"bootstrap.servers": infra.bootstrap}, messages, progress=progress)
    if not result.ok:
        click.secho(f"round trip FAILED: {len(result.missing)} missing", fg="red")
        raise SystemExit(1)
    store_url = f"http://127.0.0.1:{stack.ports['storefront-sim']}"
    heading("scenario: the storefront and carrier simulators send webhooks")
    story = scenario.push(store_url, f"http://127.0.0.1:{stack.ports['carrier-sim']}", progress)
    heading("the bus at work: reconciliation backfills the lost order, parcels are tracked")
    missing = _settled(infra, store_url, story)
    deadline = time.monotonic() + WAIT_SECONDS
    while (gaps := missing()) and time.monotonic() < deadline:
        time.sleep(2)
    heading("what happened")
    show(infra, store_url, story)
    heading("stock and customers: the ERP restocks; inventory-sync and crm-updater at work")
    crm_url = f"http://127.0.0.1:{stack.ports['crm-sim']}"
    show_stock_and_customers(infra, store_url, crm_url)
    heading("after the sale: a cancellation, a partial refund, a return and a chargeback")
    gaps += after_the_sale(infra, store_url, f"http://127.0.0.1:{stack.ports['erp-sim']}", crm_url)
    print_summary(stack, infra)
    tokens = DEMO_CONSOLE_TOKENS
    click.echo(f"Console: http://127.0.0.1:{stack.ports['console']}/ (sign in with {tokens['operator']} "
               f"as operator or {tokens['viewer']} as viewer).\n  Order {scenario.BROKEN_ORDER_ID} "
               "stopped at order-capture (its total was written '51,30'):\n"
               "  open it in Journeys, follow the dead letter, fix the total, preview and replay.\n")
    if gaps:
        click.secho("not everything arrived within 90 s: " + "; ".join(gaps), fg="red")
        raise SystemExit(1)
    click.echo("Next: ecombus ps | ecombus tail orders.placed.v1 --from-beginning | "
               "ecombus trace <order id> | make down")

