"""crm-updater on the real broker and registry against the CRM simulator: lifetime figures exact,
unchanged by a replay from the beginning, a partial batch failure dead-letters exactly the
rejected contact, and a SIGKILL mid-stream leaves the figures right after a restart."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx
import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from bus.assembly import Assembly
from bus.contracts import models as m
from bus.contracts.examples import examples, order_placed
from bus.runtime.dlq import header_dict
from bus.runtime.service import RuntimeSettings
from bus.settings import KafkaSettings
from bus.webhooks.server import HttpServer
from services.crm_updater import SERVICE
from services.crm_updater.settings import CrmUpdaterSettings
from services.crm_updater.wiring import avro_codec, build
from simulators.crm import create_app
from tests.integration.processes import log_of, service_env, start_service
from tests.integration.runtime.kafka_io import committed_total, end_offsets, read_all, wait_for


@pytest.fixture
def crm() -> Iterator[HttpServer]:
    with HttpServer(create_app(), name="crm-sim") as server:
        yield server


@pytest.fixture
def crm_settings(new_topic: Callable[..., str], crm: HttpServer) -> CrmUpdaterSettings:
    return CrmUpdaterSettings(
        orders_topic=new_topic("orders"), profiles_topic=new_topic("profiles"),
        changelog_topic=new_topic("changelog", config={"cleanup.policy": "compact"}),
        outbox_topic=new_topic("outbox"), api_url=crm.url, batch_linger_seconds=0.2)


def _order(number: int, email: str, total: str, currency: str = "USD") -> m.OrderPlaced:
    order = order_placed(number)
    money = m.MoneySet(shop=m.Money(amount=Decimal(total), currency=currency))
    return replace(order, currency=currency, customer=replace(order.customer, email=email),
                   totals=replace(order.totals, total=money))


def _produce(bootstrap: str, settings: CrmUpdaterSettings, events: list[Any]) -> None:
    codec = avro_codec(settings)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for event in events:
        if isinstance(event, m.OrderPlaced):
            value = codec.encode(settings.orders_topic, event)
            producer.produce(settings.orders_topic, key=event.order_id, value=value)
        else:
            producer.produce(settings.profiles_topic, key=event.customer_key,
                             value=codec.encode(settings.profiles_topic, event))
    assert producer.flush(30) == 0


def _contacts(crm: HttpServer) -> dict[str, dict[str, str]]:
    received = httpx.get(f"{crm.url}/_sim/received", timeout=10).json()
    return {email: c["properties"] for email, c in received["contacts"].items()}


def _run(settings: CrmUpdaterSettings, bootstrap: str,
         group: str) -> tuple[threading.Event, threading.Thread, Assembly]:
    assembly = Assembly(SERVICE, admin=("127.0.0.1", 0))
    build(assembly, settings, RuntimeSettings(group_id=group, audit=False),
          KafkaSettings(bootstrap_servers=bootstrap))
    stop = threading.Event()
    thread = threading.Thread(target=assembly.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread, assembly


def _caught_up(bootstrap: str, settings: CrmUpdaterSettings, group: str) -> bool:
    orders = settings.orders_topic
    return (committed_total(bootstrap, orders, group) == end_offsets(bootstrap, orders)
            and committed_total(bootstrap, settings.outbox_topic, f"{group}.crm")
            == end_offsets(bootstrap, settings.outbox_topic))


def test_figures_exact_replay_changes_nothing_and_only_the_rejected_contact_is_dead_lettered(
        kafka_bootstrap: str, schema_registry_url: str, crm: HttpServer, crm_settings: CrmUpdaterSettings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", schema_registry_url)
    group = f"ecombus.test.{crm_settings.orders_topic}"
    suffix = crm_settings.orders_topic.rsplit(".", 1)[-1]
    hanako, taro = f"hanako.{suffix}@example.jp", f"taro.{suffix}@example.com"
    bad = f"bad.{suffix}@example.com"
    httpx.post(f"{crm.url}/_sim/reject", params={"email": bad}, timeout=10)
    profile = examples()["CustomerUpserted"]
    assert isinstance(profile, m.CustomerUpserted)
    events: list[Any] = [
        replace(profile, customer_key=hanako, customer=replace(profile.customer, email=hanako)),
        _order(2001, hanako, "19.31"), _order(2002, hanako.upper(), "5400", "JPY"),
        _order(2003, hanako, "0.69"),
        _order(2004, taro, "100.00"), _order(2005, bad, "1.00"),
    ]
    _produce(kafka_bootstrap, crm_settings, events)

    stop, thread, assembly = _run(crm_settings, kafka_bootstrap, group)
    try:
        assert wait_for(lambda: {hanako, taro} <= set(_contacts(crm)) and _caught_up(
            kafka_bootstrap, crm_settings, group), timeout=90)
        metrics = httpx.get(f"{assembly.admin_url}/metrics", timeout=10).text
        assert 'ecombus_crm_contacts_total{outcome="rejected",service="crm-updater"}' in metrics, \
            "the flusher's series on the assembly's admin port"
        assert 'handler="count_order",outcome="ok",service="crm-updater"' in metrics, "and the loop's"
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()
    before = _contacts(crm)
    assert before[hanako]["ecombus_orders_count"] == "3"
    assert before[hanako]["ecombus_lifetime_spend_usd"] == "20"
    assert before[hanako]["ecombus_lifetime_spend_jpy"] == "5400"
    assert (before[hanako]["firstname"], before[hanako]["hs_language"]) == ("花子", "ja-JP")
    assert before[taro]["ecombus_orders_count"] == "1" and bad not in before
    dead = [msg for msg in read_all(kafka_bootstrap, "dlq.crm-updater")
            if suffix in (msg.key() or b"").decode()]
    assert [msg.key() for msg in dead] == [bad.encode()], "exactly the rejected contact"
    headers = header_dict(dead[0].headers())
    assert headers["__connect.errors.topic"] == crm_settings.outbox_topic
    assert "VALIDATION_ERROR" in headers["__connect.errors.exception.message"]

    # Replay orders.placed.v1 from the beginning: rewind the group, restart (state from the changelog).
    requests_before = len(httpx.get(f"{crm.url}/_sim/received", timeout=10).json()["requests"])
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    rewind = [TopicPartition(crm_settings.orders_topic, p, 0) for p in range(3)]
    admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, rewind)])[group].result(30)
    assert committed_total(kafka_bootstrap, crm_settings.orders_topic, group) == 0
    stop, thread, _ = _run(crm_settings, kafka_bootstrap, group)
    try:
        assert wait_for(lambda: _caught_up(kafka_bootstrap, crm_settings, group)
                        and len(httpx.get(f"{crm.url}/_sim/received", timeout=10).json()["requests"])
                        > requests_before, timeout=90)
    finally:
        stop.set()
        thread.join(60)
    after = _contacts(crm)
    assert after[hanako] == before[hanako], "lifetime figures unchanged by the replay"
    assert after[taro] == before[taro]


def _start(settings: CrmUpdaterSettings, bootstrap: str, registry: str, group: str) -> subprocess.Popen[str]:
    env = service_env(bootstrap, registry, group, ECOMBUS_BATCH_SIZE="50",
                      ECOMBUS_CRM_ORDERS_TOPIC=settings.orders_topic,
                      ECOMBUS_CRM_PROFILES_TOPIC=settings.profiles_topic,
                      ECOMBUS_CRM_CHANGELOG_TOPIC=settings.changelog_topic,
                      ECOMBUS_CRM_OUTBOX_TOPIC=settings.outbox_topic, ECOMBUS_CRM_API_URL=settings.api_url,
                      ECOMBUS_CRM_BATCH_LINGER_SECONDS="0.2")
    return start_service("crm-updater", env)


def _committed(bootstrap: str, topic: str, group: str) -> int:
    return committed_total(bootstrap, topic, group, isolation="read_uncommitted")


def test_sigkill_mid_stream_then_restart_leaves_figures_exact(
        kafka_bootstrap: str, schema_registry_url: str, crm: HttpServer,
        crm_settings: CrmUpdaterSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", schema_registry_url)
    group = f"ecombus.test.{crm_settings.orders_topic}"
    customers = [f"c{i}.{crm_settings.orders_topic[-8:]}@example.com" for i in range(20)]
    orders = [_order(10_000 + n, customers[n % 20], f"{n % 7}.25") for n in range(3000)]
    _produce(kafka_bootstrap, crm_settings, orders)

    first = _start(crm_settings, kafka_bootstrap, schema_registry_url, group)
    assert wait_for(lambda: committed_total(kafka_bootstrap, crm_settings.orders_topic, group) > 300,
                    timeout=120), "no progress before the kill"
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    # read_uncommitted: the killed instance's open transaction would hold up a stable read.
    done = _committed(kafka_bootstrap, crm_settings.orders_topic, group)
    assert done < len(orders), "finished before the kill; nothing tested"

    second = _start(crm_settings, kafka_bootstrap, schema_registry_url, group)
    try:
        assert wait_for(lambda: _caught_up(kafka_bootstrap, crm_settings, group), timeout=180)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=90)
    assert second.returncode == 0, log_of(second)[-3000:]
    contacts = _contacts(crm)
    for i, email in enumerate(customers):
        mine = [o for o in orders if o.customer.email == email]
        spend = sum((o.totals.total.shop.amount for o in mine), Decimal(0))
        assert contacts[email]["ecombus_orders_count"] == str(len(mine)), email
        assert Decimal(contacts[email]["ecombus_lifetime_spend_usd"]) == spend, (i, email)
