"""crm-updater after the sale, on the real broker and registry against the CRM simulator: revenue
net of refunds exact in KWD (3 decimals) and JPY (none), the last refund on the contact, a
cancelled order no longer counted, a redelivered refund changing nothing, a refund for an order
never counted dead-lettered with the reason, and a SIGKILL mid-stream of refunds leaving the
figures exact after the restart."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from confluent_kafka import Producer

from bus.contracts import models as m
from bus.contracts.examples import PLACED_AT, examples, meta
from bus.runtime.dlq import header_dict
from bus.webhooks.server import HttpServer
from services.crm_updater.settings import CrmUpdaterSettings
from services.crm_updater.wiring import avro_codec
from simulators.crm import create_app
from tests.integration.processes import log_of, service_env, start_service
from tests.integration.runtime.kafka_io import committed_total, end_offsets, read_all, wait_for
from tests.integration.test_crm_updater import _contacts, _order, _run


@pytest.fixture
def crm() -> Iterator[HttpServer]:
    with HttpServer(create_app(), name="crm-sim") as server:
        yield server


@pytest.fixture
def crm_settings(new_topic: Callable[..., str], crm: HttpServer) -> CrmUpdaterSettings:
    return CrmUpdaterSettings(
        orders_topic=new_topic("orders"), profiles_topic=new_topic("profiles"),
        refunds_topic=new_topic("refunds"), cancellations_topic=new_topic("cancellations"),
        changelog_topic=new_topic("changelog", config={"cleanup.policy": "compact"}),
        outbox_topic=new_topic("outbox"), api_url=crm.url, batch_linger_seconds=0.2)


def _refund(order: m.OrderPlaced, refund_id: str, amount: str) -> m.OrderRefunded:
    refund = examples()["OrderRefunded"]
    assert isinstance(refund, m.OrderRefunded)
    money = m.MoneySet(shop=m.Money(amount=Decimal(amount), currency=order.currency))
    return replace(refund, meta=meta(f"shopify:refund:{refund_id}", correlation_id=order.order_id),
                   order_id=order.order_id, refund_id=refund_id, currency=order.currency, lines=[],
                   total=money, transactions=[])


def _cancel(order: m.OrderPlaced) -> m.OrderCancelled:
    cancelled = examples()["OrderCancelled"]
    assert isinstance(cancelled, m.OrderCancelled)
    return replace(cancelled, meta=meta(f"cancel:{order.order_id}"), order_id=order.order_id)


def _produce(bootstrap: str, settings: CrmUpdaterSettings, events: list[Any]) -> None:
    codec = avro_codec(settings)
    topics = {m.OrderPlaced: settings.orders_topic, m.OrderRefunded: settings.refunds_topic,
              m.OrderCancelled: settings.cancellations_topic}
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for event in events:
        topic = topics[type(event)]
        producer.produce(topic, key=event.order_id, value=codec.encode(topic, event))
        producer.poll(0)
    assert producer.flush(30) == 0


def _settled(bootstrap: str, settings: CrmUpdaterSettings, group: str) -> bool:
    """Every input committed (read_uncommitted: a killed instance's open transaction must not hold
    the check up) and every contact change flushed to the CRM."""
    inputs = (settings.orders_topic, settings.refunds_topic, settings.cancellations_topic)
    consumed = all(committed_total(bootstrap, topic, group, isolation="read_uncommitted")
                   == end_offsets(bootstrap, topic) for topic in inputs)
    return (consumed
            and committed_total(bootstrap, settings.outbox_topic, f"{group}.crm")
            == end_offsets(bootstrap, settings.outbox_topic))


def test_kwd_and_jpy_refunds_a_cancellation_a_redelivery_and_an_unknown_order(
        kafka_bootstrap: str, schema_registry_url: str, crm: HttpServer,
        crm_settings: CrmUpdaterSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", schema_registry_url)
    group = f"ecombus.test.{crm_settings.orders_topic}"
    suffix = crm_settings.orders_topic.rsplit(".", 1)[-1]
    kuwait, tokyo = f"fatima.{suffix}@example.kw", f"hanako.{suffix}@example.jp"
    kwd, kwd_other = _order(7001, kuwait, "12.500", "KWD"), _order(7002, kuwait, "3.250", "KWD")
    jpy = _order(7003, tokyo, "5400", "JPY")
    stop, thread, _ = _run(crm_settings, kafka_bootstrap, group)
    try:
        _produce(kafka_bootstrap, crm_settings, [kwd, kwd_other, jpy])
        assert wait_for(lambda: _settled(kafka_bootstrap, crm_settings, group)
                        and {kuwait, tokyo} <= set(_contacts(crm)), timeout=90)
        assert _contacts(crm)[kuwait]["ecombus_lifetime_spend_kwd"] == "15.75"

        refund_kwd, refund_jpy = _refund(kwd, "r-7001", "2.125"), _refund(jpy, "r-7003", "1800")
        stranger = _order(7999, kuwait, "1.000", "KWD")
        _produce(kafka_bootstrap, crm_settings, [refund_kwd, refund_jpy, _cancel(kwd_other),
                                                 _refund(stranger, "r-7999", "1.000")])
        assert wait_for(lambda: _settled(kafka_bootstrap, crm_settings, group)
                        and _contacts(crm)[tokyo].get("ecombus_lifetime_spend_jpy") == "3600"
                        and _contacts(crm)[kuwait].get("ecombus_lifetime_spend_kwd") == "10.375",
                        timeout=90), _contacts(crm)
        before = _contacts(crm)

        # The same refunds and the cancellation again (a platform retry, a reconciliation).
        _produce(kafka_bootstrap, crm_settings, [refund_kwd, refund_jpy, _cancel(kwd_other)])
        assert wait_for(lambda: _settled(kafka_bootstrap, crm_settings, group), timeout=90)
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()
    after = _contacts(crm)
    assert after == before, "nothing doubled by the redelivery"
    fatima, hanako = after[kuwait], after[tokyo]
    assert (fatima["ecombus_lifetime_spend_kwd"], fatima["ecombus_orders_count"]) == ("10.375", "1"), \
        "12.500 - 2.125, the cancelled 3.250 order no longer counted"
    assert (fatima["ecombus_last_refund_amount"], fatima["ecombus_last_refund_currency"]) == ("2.125", "KWD")
    assert fatima["ecombus_last_refund_at"] == PLACED_AT.isoformat()
    assert (hanako["ecombus_lifetime_spend_jpy"], hanako["ecombus_orders_count"]) == ("3600", "1")
    assert hanako["ecombus_last_refund_amount"] == "1800"

    dead = [msg for msg in read_all(kafka_bootstrap, "dlq.crm-updater")
            if header_dict(msg.headers())["__connect.errors.topic"] == crm_settings.refunds_topic]
    assert [msg.key() for msg in dead] == [stranger.order_id.encode()], "the unknown order's refund only"
    reason = header_dict(dead[0].headers())["__connect.errors.exception.message"]
    assert f"refund r-7999 for order {stranger.order_id}, which the CRM never counted" in reason


def _start(settings: CrmUpdaterSettings, bootstrap: str, registry: str, group: str) -> subprocess.Popen[str]:
    names = ("orders_topic", "profiles_topic", "refunds_topic", "cancellations_topic", "changelog_topic",
             "outbox_topic", "api_url", "batch_linger_seconds")
    own = {f"ECOMBUS_CRM_{name.upper()}": str(getattr(settings, name)) for name in names}
    env = service_env(bootstrap, registry, group, ECOMBUS_BATCH_SIZE="20", **own)
    return start_service("crm-updater", env)


def test_sigkill_mid_stream_of_refunds_then_restart_leaves_figures_exact(
        kafka_bootstrap: str, schema_registry_url: str, crm: HttpServer,
        crm_settings: CrmUpdaterSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", schema_registry_url)
    group = f"ecombus.test.{crm_settings.orders_topic}"
    customers = [f"k{i}.{crm_settings.orders_topic[-8:]}@example.kw" for i in range(20)]
    orders = [_order(40_000 + n, customers[n % 20], f"{n % 7 + 1}.250", "KWD") for n in range(1000)]
    # 0.125 KWD back on every order; every other refund delivered again after all the others: what
    # the killed instance committed must survive (the odd ones) and dedupe its redelivery (the even ones)
    # from the state read back, not from memory.
    once = [_refund(order, f"r-{40_000 + n}", "0.125") for n, order in enumerate(orders)]
    refunds: list[Any] = once + once[::2]

    first = _start(crm_settings, kafka_bootstrap, schema_registry_url, group)
    _produce(kafka_bootstrap, crm_settings, orders)
    assert wait_for(lambda: _settled(kafka_bootstrap, crm_settings, group), timeout=180), "orders not counted"
    _produce(kafka_bootstrap, crm_settings, refunds)
    assert wait_for(lambda: committed_total(kafka_bootstrap, crm_settings.refunds_topic, group,
                                            isolation="read_uncommitted") > 200, timeout=120), "no progress"
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    done = committed_total(kafka_bootstrap, crm_settings.refunds_topic, group, isolation="read_uncommitted")
    assert done < len(once), "the first copies were all handled before the kill; nothing tested"

    second = _start(crm_settings, kafka_bootstrap, schema_registry_url, group)
    try:
        assert wait_for(lambda: _settled(kafka_bootstrap, crm_settings, group), timeout=180)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=90)
    assert second.returncode == 0, log_of(second)[-3000:]
    contacts = _contacts(crm)
    for email in customers:
        mine = [o for o in orders if o.customer.email == email]
        net = sum((o.totals.total.shop.amount - Decimal("0.125") for o in mine), Decimal(0))
        assert contacts[email]["ecombus_orders_count"] == str(len(mine)), email
        assert Decimal(contacts[email]["ecombus_lifetime_spend_kwd"]) == net, email
    assert not [msg for msg in read_all(kafka_bootstrap, "dlq.crm-updater")
                if header_dict(msg.headers())["__connect.errors.topic"] == crm_settings.refunds_topic]
