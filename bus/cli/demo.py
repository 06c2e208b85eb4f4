"""``ecombus demo``: what ``make demo`` runs. Grows with every service that joins the bus.

It starts the whole local bus (``ecombus up``), proves a round trip, has the simulators push a
scenario through the services (services/simulators/scenario.py) and shows what reached the
topics and the store, decoded from Avro as ``ecombus tail`` does. Everything keeps running.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import click
import httpx
from confluent_kafka import Consumer, TopicPartition

from bus.cli.local import REGISTRY_PORT
from bus.cli.output import heading, progress
from bus.cli.stack import Infrastructure, print_summary, start_infrastructure, start_stack
from bus.local.broker import DEFAULT_PORT
from bus.ops.reading import partitions_of, read_to_end
from bus.roundtrip import round_trip
from bus.serde import AvroDecoder, RegistryClient
from services.simulators import scenario

WAIT_SECONDS = 90.0


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


@click.command("demo")
@click.option("--messages", default=1_000, show_default=True, help="Records in the round trip.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, help="Kafka client port on 127.0.0.1.")
@click.option("--registry-port", default=REGISTRY_PORT, show_default=True, envvar="ECOMBUS_REGISTRY_PORT")
def demo(messages: int, port: int, registry_port: int) -> None:
    """Start the whole local bus, push a realistic scenario through it, show what happened."""
    infra = start_infrastructure(port, registry_port)
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
    print_summary(stack, infra)
    if gaps:
        click.secho("not everything arrived within 90 s: " + "; ".join(gaps), fg="red")
        raise SystemExit(1)
    click.echo("Next: ecombus ps | ecombus tail orders.placed.v1 --from-beginning | "
               "ecombus trace <order id> | make down")


COMMANDS = [demo]
