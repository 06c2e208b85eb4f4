"""The router end to end on the real broker and registry, with the shipped routes file.

One router (in a thread) and one ERP simulator serve the whole module: the ERP stock fixture
dropped in the folder becomes StockLevelChanged events; the fixture orders become an ERP order
import CSV equal byte for byte to ``erp_orders_expected.csv`` and cXML OrderRequests at the ERP;
a high-value order goes to review; failures are dead-lettered with route and step.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from bus.assembly import Assembly
from bus.contracts import models as m
from bus.contracts.catalog import schema_for_topic
from bus.runtime.audit import AUDIT_TOPIC
from bus.runtime.dlq import header_dict
from bus.runtime.service import RuntimeSettings
from bus.serde import AvroCodec, RegistryClient
from bus.settings import KafkaSettings, RegistrySettings
from bus.tools.local.broker import free_port
from bus.webhooks.server import HttpServer
from services.order_capture import shopify, woocommerce
from services.router import SERVICE
from services.router.settings import RouterSettings
from services.router.wiring import build
from simulators.erp import OrderImports, drop_stock_file, erp_app
from tests.integration.runtime.kafka_io import read_all, wait_for

SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
FIXTURES = SHARED if SHARED.exists() else Path(__file__).resolve().parents[2] / "simulators/fixtures"


def fixture_orders() -> list[m.OrderPlaced]:
    """The storefront fixtures as OrderPlaced, mapped by order-capture's own functions."""
    shop, woo = (json.loads((FIXTURES / name).read_text(encoding="utf-8"), parse_float=Decimal)
                 for name in ("shopify_orders_create.json", "woocommerce_order_created.json"))
    return [shopify.order_placed(shop, "hanako-tea.myshopify.com", "shopify:evt-1042"),
            woocommerce.order_placed(woo, "shop.example.de", "woocommerce:evt-727")]


@dataclass
class Bus:
    bootstrap: str
    codec: AvroCodec
    topics: dict[str, str]
    folders: dict[str, Path]
    imports: OrderImports
    admin_url: str
    erp_port: int

    def produce(self, orders: list[m.OrderPlaced], raw: list[bytes] = ()) -> None:  # type: ignore[assignment]
        topic = self.topics["orders.placed.v1"]
        producer = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True})
        for order in orders:
            producer.produce(topic, key=order.order_id.encode(), value=self.codec.encode(topic, order))
        for value in raw:
            producer.produce(topic, key=b"garbage", value=value)
        assert producer.flush(30) == 0

    def erp(self, path: str = "/_sim/received", method: str = "GET") -> Any:
        request = urllib.request.Request(f"http://127.0.0.1:{self.erp_port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    def metrics(self) -> str:
        with urllib.request.urlopen(f"{self.admin_url}/metrics", timeout=10) as answer:
            return str(answer.read().decode())


@pytest.fixture(scope="module")
def bus(kafka_bootstrap: str, schema_registry_url: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bus]:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    suffix = tmp_path_factory.mktemp("ids").name[-8:]
    topics = {logical: f"test.router.{logical}.{suffix}"
              for logical in ("orders.placed.v1", "inventory.levels.v1", "orders.review.v1")}
    wanted = [NewTopic(t, 1 if "orders.placed" in t else 3, 1) for t in topics.values()]
    existing = admin.list_topics(timeout=30).topics
    wanted += [NewTopic(t, 1, 1) for t in (AUDIT_TOPIC, "dlq.router") if t not in existing]
    for future in admin.create_topics(wanted).values():
        try:
            future.result(30)
        except KafkaException as exc:  # another module created a shared topic meanwhile
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    home = tmp_path_factory.mktemp("router")
    folders = {name: home / name for name in ("stock", "orders", "state")}
    imports = OrderImports(folders["orders"])
    erp_port = free_port()
    erp = HttpServer(erp_app(imports), "127.0.0.1", erp_port, name="erp-sim").start()
    environ = {"ERP_STOCK_DIR": str(folders["stock"]), "ERP_ORDERS_DIR": str(folders["orders"]),
               "ERP_URL": f"http://127.0.0.1:{erp_port}", "ERP_ORDERS_BATCH_ROWS": "1000",
               "ERP_ORDERS_BATCH_SECONDS": "3", "ERP_STOCK_SETTLE_SECONDS": "0"}
    assembly = Assembly(SERVICE, admin=("127.0.0.1", 0))
    build(assembly, RouterSettings(state_dir=folders["state"], topics=topics, tick_seconds=0.2),
          RuntimeSettings(group_id=f"ecombus.router.test.{suffix}", retry_budget_seconds=2,
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
        yield Bus(kafka_bootstrap, codec, topics, folders, imports, assembly.admin_url, erp_port)
    finally:
        stop.set()
        thread.join(60)
        erp.stop()
    assert not thread.is_alive(), "the router did not stop when asked"


def test_the_erp_stock_file_becomes_stock_level_events(bus: Bus) -> None:
    drop_stock_file(bus.folders["stock"], (FIXTURES / "erp_stock_levels.csv").read_bytes())
    topic = bus.topics["inventory.levels.v1"]
    assert wait_for(lambda: len(read_all(bus.bootstrap, topic)) >= 4, timeout=60)
    events = [(msg.key(), bus.codec.decode(topic, msg.value())) for msg in read_all(bus.bootstrap, topic)]
    levels = sorted((k.decode(), e["location"], e["on_hand"], e["reserved"], e["available"])
                    for k, e in events)
    assert levels == [("BOWL-CHAWAN", "TOKYO-1", 7, 1, 6), ("MATCHA-40G", "LA-1", 38, 0, 38),
                      ("MATCHA-40G", "TOKYO-1", 120, 4, 116), ("WHISK-BAMBOO", "LA-1", 0, 0, 0)]
    first = events[0][1]
    assert first["meta"]["source"] == {"platform": "erp", "system": "erp"}
    assert first["meta"]["event_id"].startswith("erp-stock:erp_stock_levels.csv:")
    assert len({e["meta"]["event_id"] for _, e in events}) == 4
    assert wait_for(lambda: (bus.folders["stock"] / "done" / "erp_stock_levels.csv").exists(), timeout=30)


def test_an_unreadable_stock_file_goes_to_error_with_its_reason(bus: Bus) -> None:
    drop_stock_file(bus.folders["stock"], b"sku,location,on_hand\nA,B\n", name="ragged.csv")
    reason = bus.folders["stock"] / "error" / "ragged.csv.reason.txt"
    assert wait_for(reason.exists, timeout=30)
    assert "line 2: 2 cells, the header has 3" in reason.read_text(encoding="utf-8")


def test_a_file_over_a_limit_goes_to_error_and_the_next_file_in_the_folder_flows(bus: Bus) -> None:
    wide = b"sku,location,on_hand,reserved,as_of\nA,B," + b"9" * 200_000 + b",0,2025-06-03T09:00:00Z\n"
    drop_stock_file(bus.folders["stock"], wide, name="a-wide-cell.csv")
    good = b"sku,location,on_hand,reserved,as_of\nFUZZ-NEXT,OSAKA-1,5,1,2025-06-03T09:00:00Z\n"
    drop_stock_file(bus.folders["stock"], good, name="b-next.csv")
    topic = bus.topics["inventory.levels.v1"]
    assert wait_for(lambda: any(m.key() == b"FUZZ-NEXT" for m in read_all(bus.bootstrap, topic)), timeout=60)
    error = bus.folders["stock"] / "error"
    assert (error / "a-wide-cell.csv").read_bytes() == wide
    reason = (error / "a-wide-cell.csv.reason.txt").read_text(encoding="utf-8")
    assert "a cell is longer than the limit of 131072 characters" in reason and "9999" not in reason
    assert wait_for(lambda: (bus.folders["stock"] / "done" / "b-next.csv").exists(), timeout=30)
    assert 'ecombus_router_files_total{outcome="unreadable",route="erp-stock-file"}' in bus.metrics()


def test_fixture_orders_become_the_expected_erp_csv_and_cxml_orders(bus: Bus) -> None:
    bus.produce(fixture_orders())
    assert wait_for(lambda: any(bus.folders["orders"].glob("erp-orders-*.csv")), timeout=60)
    written = sorted(bus.folders["orders"].glob("erp-orders-*.csv"))
    assert len(written) == 1
    assert written[0].read_bytes() == (FIXTURES / "erp_orders_expected.csv").read_bytes()
    assert wait_for(lambda: len(bus.erp()["orders"]) == 2, timeout=30)
    orders = {o["order_id"]: o for o in bus.erp()["orders"]}
    assert sorted(orders) == ["SHOP-1042", "WOO-727"]
    assert (orders["SHOP-1042"]["total"], orders["SHOP-1042"]["currency"]) == ("38.63", "USD")
    assert orders["SHOP-1042"]["ship_city"] == "渋谷区"
    assert [line["sku"] for line in orders["WOO-727"]["lines"]] == ["WHISK-BAMBOO", "MATCHA-40G"]
    assert bus.erp()["imports"]["rows"][0]["Customer"] == "佐藤 花子"
    metrics = bus.metrics()
    assert 'ecombus_router_messages_in_total{route="orders-to-erp-csv"} 2.0' in metrics
    assert 'ecombus_router_messages_filtered_total{route="order-review",step="order-value"} 2.0' in metrics


def test_a_high_value_order_goes_to_review_and_failures_are_dead_lettered(bus: Bus) -> None:
    shop, _ = fixture_orders()
    total = m.MoneySet(shop=m.Money(amount=shop.totals.total.shop.amount * 20, currency="USD"))
    big = replace(shop, order_id="shopify:hanako-tea.myshopify.com:9001", order_number="#9001",
                  totals=replace(shop.totals, total=total))
    bus.produce([big])
    review = bus.topics["orders.review.v1"]
    assert wait_for(lambda: len(read_all(bus.bootstrap, review)) == 1, timeout=60)
    record = read_all(bus.bootstrap, review)[0]
    assert bus.codec.decode(review, record.value())["order_id"] == big.order_id
    assert header_dict(record.headers())["ecombus.review.reason"] == "total 772.60 USD over 500"

    bus.erp("/_sim/fail?status=422&count=1", method="POST")  # the ERP refuses the next order
    regular = replace(shop, order_id="shopify:hanako-tea.myshopify.com:9002")
    bus.produce([regular], raw=[b"not avro at all"])

    def dead_letters() -> list[dict[str, str]]:
        found = [header_dict(msg.headers()) for msg in read_all(bus.bootstrap, "dlq.router")]
        return [h for h in found if h.get("__connect.errors.topic") == bus.topics["orders.placed.v1"]]

    assert wait_for(lambda: len(dead_letters()) == 2, timeout=60)
    by_stage = {h["__connect.errors.stage"]: h for h in dead_letters()}
    assert "ecombus.errors.route" not in by_stage["VALUE_CONVERTER"]
    failed = by_stage["TASK_PUT"]
    assert (failed["ecombus.errors.route"], failed["ecombus.errors.step"]) == (
        "orders-to-erp-cxml", "to:http:POST /cxml/orders")
    assert failed["ecombus.errors.kind"] == "permanent"
    series = 'ecombus_router_dead_letters_total{route="orders-to-erp-cxml",step="to:http:POST /cxml/orders"}'
    assert f"{series} 1.0" in bus.metrics()


EOS_ROUTES = """
routes:
  - name: accept-orders
    delivery: exactly-once
    from: {kafka: {topic: orders.placed.v1}}
    steps:
      - map:
          fields:
            meta: meta
            order_id: order_id
            status: "'ACCEPTED'"
            previous_status: "'PLACED'"
    to: [{kafka: {topic: orders.status.v1, key: order_id}}]
"""


def test_a_kafka_to_kafka_route_runs_exactly_once(kafka_bootstrap: str, schema_registry_url: str,
                                                  new_topic: Any, tmp_path: Path) -> None:
    source, target = new_topic("eos-in", partitions=1), new_topic("eos-out", partitions=1)
    (tmp_path / "routes.yaml").write_text(EOS_ROUTES, encoding="utf-8")
    assembly = Assembly(SERVICE, admin=("127.0.0.1", 0))
    settings = RouterSettings(routes_file=tmp_path / "routes.yaml", state_dir=tmp_path / "state",
                              topics={"orders.placed.v1": source, "orders.status.v1": target})
    router = build(assembly, settings, RuntimeSettings(group_id=f"ecombus.router.{source}", audit=False),
                   KafkaSettings(bootstrap_servers=kafka_bootstrap),
                   RegistrySettings(url=schema_registry_url), environ={})
    assert router.loop is not None and router.loop.options.exactly_once
    writers = {source: schema_for_topic("orders.placed.v1"), target: schema_for_topic("orders.status.v1")}
    codec = AvroCodec(RegistryClient(schema_registry_url), writer_schemas=writers, reader_schemas=writers)
    shop, woo = fixture_orders()
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for order in (shop, woo):
        producer.produce(source, key=order.order_id.encode(), value=codec.encode(source, order))
    assert producer.flush(30) == 0
    stop = threading.Event()
    thread = threading.Thread(target=assembly.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: len(read_all(kafka_bootstrap, target)) == 2, timeout=60)
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive(), "the router did not stop when asked"
    committed = read_all(kafka_bootstrap, target, isolation="read_committed")
    statuses = [codec.decode(target, msg.value()) for msg in committed]
    assert [(s["order_id"], s["status"]) for s in statuses] == [(shop.order_id, "ACCEPTED"),
                                                                (woo.order_id, "ACCEPTED")]
    assert statuses[0]["meta"]["event_id"] == shop.meta.event_id
