"""The router's after-sale routes end to end on the real broker and registry, with the shipped
routes file and the ERP simulator: a refund becomes one credit memo in the ERP's import file and
one cXML credit memo, and its redelivery neither; a received return becomes a return
authorization; a dispute goes to orders.review.disputes.v1; the payment status is read back from
the topics as ``ecombus trace`` reads it.

The events are produced directly to the (per-module) topics, as order-capture would write them.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from bus.assembly import Assembly
from bus.contracts import models as m
from bus.contracts.catalog import schema_for_topic
from bus.contracts.examples import examples, order_placed
from bus.ops.trace import payment_of
from bus.runtime.audit import AUDIT_TOPIC
from bus.runtime.dlq import header_dict
from bus.runtime.service import RuntimeSettings
from bus.serde import AvroCodec, RegistryClient
from bus.settings import KafkaSettings, RegistrySettings
from bus.tools.local.broker import free_port
from bus.webhooks.server import HttpServer
from services.router import SERVICE
from services.router.settings import RouterSettings
from services.router.wiring import build
from simulators.erp import OrderImports, erp_app
from tests.integration.runtime.kafka_io import read_all, wait_for

TOPICS = ("orders.placed.v1", "inventory.levels.v1", "orders.review.v1", "orders.refunds.v1",
          "orders.returns.v1", "orders.disputes.v1", "orders.review.disputes.v1", "orders.cancellations.v1")


@dataclass
class Bus:
    bootstrap: str
    codec: AvroCodec
    topics: dict[str, str]
    imports: OrderImports
    erp_port: int

    def produce(self, logical: str, *events: m.Event) -> None:
        topic = self.topics[logical]
        producer = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True})
        for event in events:
            producer.produce(topic, key=str(getattr(event, "order_id")).encode(),  # noqa: B009 any event
                             value=self.codec.encode(topic, event))
        assert producer.flush(30) == 0

    def erp(self) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.erp_port}/_sim/received", timeout=10) as answer:
            return json.loads(answer.read())


@pytest.fixture(scope="module")
def bus(kafka_bootstrap: str, schema_registry_url: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bus]:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    suffix = tmp_path_factory.mktemp("ids").name[-8:]
    topics = {logical: f"test.aftersale.{logical}.{suffix}" for logical in TOPICS}
    wanted = [NewTopic(t, 3, 1) for t in topics.values()]
    existing = admin.list_topics(timeout=30).topics
    wanted += [NewTopic(t, 1, 1) for t in (AUDIT_TOPIC, "dlq.router") if t not in existing]
    for future in admin.create_topics(wanted).values():
        try:
            future.result(30)
        except KafkaException as exc:  # another module created a shared topic meanwhile
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    home = tmp_path_factory.mktemp("router-aftersale")
    folders = {name: home / name for name in ("stock", "imports", "state")}
    imports = OrderImports(folders["imports"])
    erp_port = free_port()
    erp = HttpServer(erp_app(imports), "127.0.0.1", erp_port, name="erp-sim").start()
    environ = {"ERP_STOCK_DIR": str(folders["stock"]), "ERP_ORDERS_DIR": str(folders["imports"]),
               "ERP_URL": f"http://127.0.0.1:{erp_port}", "ERP_ORDERS_BATCH_ROWS": "1000",
               "ERP_ORDERS_BATCH_SECONDS": "2", "ERP_STOCK_SETTLE_SECONDS": "0"}
    assembly = Assembly(SERVICE, admin=("127.0.0.1", 0))
    build(assembly, RouterSettings(state_dir=folders["state"], topics=topics, tick_seconds=0.2),
          RuntimeSettings(group_id=f"ecombus.router.aftersale.{suffix}", retry_budget_seconds=2,
                          retry_max_attempts=2),
          KafkaSettings(bootstrap_servers=kafka_bootstrap),
          RegistrySettings(url=schema_registry_url), environ=environ)
    stop = threading.Event()
    thread = threading.Thread(target=assembly.run, args=(stop,), daemon=True)
    thread.start()
    writers = {topic: schema_for_topic(logical) for logical, topic in topics.items()}
    codec = AvroCodec(RegistryClient(schema_registry_url), writer_schemas=writers, reader_schemas=writers)
    try:
        assert wait_for(lambda: assembly.admin_server is not None, timeout=30), "no admin server"
        yield Bus(kafka_bootstrap, codec, topics, imports, erp_port)
    finally:
        stop.set()
        thread.join(60)
        erp.stop()
    assert not thread.is_alive(), "the router did not stop when asked"


def refund() -> m.OrderRefunded:
    event = examples()["OrderRefunded"]
    assert isinstance(event, m.OrderRefunded)
    return event


def test_a_refund_is_one_credit_memo_file_row_set_and_one_cxml_and_its_redelivery_neither(bus: Bus) -> None:
    bus.produce("orders.refunds.v1", refund())
    assert wait_for(lambda: len(bus.erp()["credit_memos"]) == 1, timeout=60)
    assert wait_for(lambda: len(bus.erp()["imports"]["credit_memos"]) == 2, timeout=60)
    rows = bus.erp()["imports"]["credit_memos"]
    assert [(r["External ID"], r["Item"], r["Quantity"], r["Amount"], r["Currency"]) for r in rows] == [
        ("SHOP-CM-509562969", "MATCHA-40G", "1", "17.80", "USD"),
        ("SHOP-CM-509562969", "TAX", "1", "1.51", "USD")]
    assert {r["Order ID"] for r in rows} == {refund().order_id}
    memo = bus.erp()["credit_memos"][0]
    assert (memo["payload_id"], memo["net_amount"], memo["order_id"]) == (
        "shopify:refund:509562969@ecombus", "-19.31", "SHOP-6120004415")

    bus.produce("orders.refunds.v1", refund())  # the platform delivered it again
    assert wait_for(lambda: bus.erp()["credit_memo_duplicates"] == 1, timeout=60)
    threading.Event().wait(5)  # more than a batch window: a second file would have been written
    received = bus.erp()
    assert len(received["credit_memos"]) == 1
    assert len(received["imports"]["credit_memos"]) == 2, "the redelivered refund wrote no rows"
    assert len([f for f in received["imports"]["files"] if f.startswith("erp-credit-memos")]) == 1


def test_a_received_return_is_one_return_authorization_and_a_requested_one_none(bus: Bus) -> None:
    received = examples()["ReturnUpdated"]
    assert isinstance(received, m.ReturnUpdated)
    requested = replace(received, status=m.ReturnStatus.REQUESTED, received_at=None,
                        meta=replace(received.meta, event_id="shopify:return:945000954:REQUESTED"))
    bus.produce("orders.returns.v1", requested, received)
    assert wait_for(lambda: len(bus.erp()["imports"]["return_authorizations"]) >= 1, timeout=60)
    threading.Event().wait(3)
    rows = bus.erp()["imports"]["return_authorizations"]
    assert [(r["External ID"], r["Item"], r["Quantity"], r["Reason"], r["Location"]) for r in rows] == [
        ("SHOP-RA-945000954", "MATCHA-40G", "1", "DEFECTIVE", "TOKYO-1")]


def test_a_dispute_goes_to_dispute_review_keyed_by_order_with_the_reason(bus: Bus) -> None:
    dispute = examples()["DisputeUpdated"]
    bus.produce("orders.disputes.v1", dispute)
    topic = bus.topics["orders.review.disputes.v1"]
    assert wait_for(lambda: len(read_all(bus.bootstrap, topic)) == 1, timeout=60)
    record = read_all(bus.bootstrap, topic)[0]
    value = bus.codec.decode(topic, record.value())
    assert record.key() == dispute.order_id.encode()  # type: ignore[attr-defined]
    assert (value["dispute_id"], value["status"]) == ("598735659", "NEEDS_RESPONSE")
    assert header_dict(record.headers())["ecombus.review.reason"] == (
        "chargeback fraudulent 38.63 USD: evidence due 2025-06-03")


def test_the_payment_status_is_read_back_from_the_order_topics(bus: Bus, tmp_path: Path) -> None:
    order = order_placed(2001)
    first = replace(refund(), order_id=order.order_id, refund_id="1",
                    meta=replace(refund().meta, event_id="shopify:refund:1"))
    bus.produce("orders.placed.v1", order)
    bus.produce("orders.refunds.v1", first, first)
    client = {"bootstrap.servers": bus.bootstrap}
    payment = payment_of(client, bus.codec, order.order_id, topics=bus.topics)
    assert payment is not None and payment.status == "PARTIALLY_REFUNDED"
    assert payment.describe() == "partially refunded (19.31 of 38.63 USD refunded; 2875 of 5750 JPY refunded)"
    bus.produce("orders.cancellations.v1", replace(examples()["OrderCancelled"], order_id=order.order_id))
    missing = {**bus.topics, "orders.disputes.v1": f"test.aftersale.absent.{tmp_path.name}"}
    payment = payment_of(client, bus.codec, order.order_id, topics=missing)
    assert payment is not None and payment.cancelled and payment.status == "PARTIALLY_REFUNDED"
    assert payment_of(client, bus.codec, "no-such-order", topics=bus.topics) is None


def test_a_refund_delivered_twice_at_once_is_still_one_credit_memo(bus: Bus) -> None:
    twice = replace(refund(), refund_id="777", meta=replace(refund().meta, event_id="shopify:refund:777"))
    bus.produce("orders.refunds.v1", twice, twice)
    assert wait_for(lambda: any(c["credit_memo_id"] == "SHOP-CM-777" for c in bus.erp()["credit_memos"]),
                    timeout=60)
    assert wait_for(lambda: bus.erp()["credit_memo_duplicates"] >= 2, timeout=60)
    threading.Event().wait(5)
    rows = [r for r in bus.erp()["imports"]["credit_memos"] if r["External ID"] == "SHOP-CM-777"]
    assert [r["Item"] for r in rows] == ["MATCHA-40G", "TAX"]
