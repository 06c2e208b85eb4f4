"""The declared local stack as processes (what ``ecombus up/ps/down`` run), on free ports against the
session broker and registry, with its own topics: an order and its parcel go all the way through
the simulators, order-capture and shipping-tracker; every declared entry resolves."""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path

import httpx
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from bus.contracts.catalog import schema_for_topic
from bus.errors import ConfigError
from bus.runtime.audit import AUDIT_TOPIC
from bus.serde import AvroCodec, RegistryClient
from bus.tools.local.broker import free_port, process_alive
from bus.tools.local.stack import STACK, ProcessSpec, Stack
from tests.integration.runtime.kafka_io import read_all, wait_for

ORDER_FLOW = ("storefront-sim", "carrier-sim", "order-capture", "shipping-tracker")
"""The processes an order and its parcel go through (other services are tested by their owners)."""


def test_every_declared_process_resolves_on_any_ports() -> None:
    stack = Stack(ports={s.name: 20000 + i for i, s in enumerate(STACK)},
                  admin_ports={s.name: 21000 + i for i, s in enumerate(STACK)})
    for spec in STACK:
        argv, env = stack.command(spec, "127.0.0.1:1", "http://127.0.0.1:2")
        resolved = " ".join(argv) + " ".join(env.values())
        assert not re.search(r"\{(port|admin_port|url)\[|\{(bootstrap|registry)\}", resolved), spec.name
    order_capture = next(s for s in STACK if s.name == "order-capture")
    shops = json.loads(stack.command(order_capture, "k:1", "http://r")[1]["ECOMBUS_ORDER_CAPTURE_SHOPS"])
    assert {s["platform"] for s in shops} == {"shopify", "woocommerce", "bigcommerce"}, "JSON kept intact"
    assert set(ORDER_FLOW) <= {s.name for s in STACK}


def test_placeholders_are_filled_and_an_unknown_name_starts_nothing(tmp_path: Path) -> None:
    first = ProcessSpec("a", ("serve", "{port[a]}"), env={"UP": "{url[b]}/x", "K": "{bootstrap}"}, port=7)
    second = ProcessSpec("b", ("run", "{registry}"), env={"P": "{port[nowhere]}"}, port=8)
    stack = Stack([first, second], home=tmp_path)
    argv, env = stack.command(first, "k:9", "http://r")
    assert argv == ["serve", "7"]
    assert (env["UP"], env["K"], env["SCHEMA_REGISTRY_URL"]) == ("http://127.0.0.1:8/x", "k:9", "http://r")
    with pytest.raises(ConfigError, match="unknown process"):
        stack.up("k:9", "http://r", progress=lambda _: None)
    assert [s.pid for s in stack.status()] == [None, None], "nothing was started"


def test_the_whole_stack_runs_reports_ready_and_stops(
        tmp_path: Path, kafka_bootstrap: str, schema_registry_url: str, kafka_admin: AdminClient) -> None:
    tag = uuid.uuid4().hex[:8]
    topics = {k: f"test.stack.{k}.{tag}"
              for k in ("orders", "customers", "status", "shipments", "storefronts", "carriers")}
    existing = kafka_admin.list_topics(timeout=30).topics
    wanted = [*topics.values(), *(t for t in (AUDIT_TOPIC, "dlq.order-capture", "dlq.shipping-tracker")
                                  if t not in existing)]
    for future in kafka_admin.create_topics([NewTopic(t, 3, 1) for t in wanted]).values():
        future.result(30)
    specs = [s for s in STACK if s.name in ORDER_FLOW]
    stack = Stack(specs, ports={s.name: free_port() for s in specs}, home=tmp_path,
                  admin_ports={s.name: free_port() for s in specs if s.admin_port},
                  extra_env={"ECOMBUS_ORDER_CAPTURE_ORDERS_TOPIC": topics["orders"],
                             "ECOMBUS_ORDER_CAPTURE_CUSTOMERS_TOPIC": topics["customers"],
                             "ECOMBUS_ORDER_CAPTURE_STATUS_TOPIC": topics["status"],
                             "ECOMBUS_ORDER_CAPTURE_INTAKE_TOPIC": topics["storefronts"],
                             "ECOMBUS_ORDER_CAPTURE_INTAKE_CHANGELOG_TOPIC": f"{topics['storefronts']}.log",
                             "ECOMBUS_ORDER_CAPTURE_INTAKE_GROUP_ID": f"ecombus.order-capture.{tag}",
                             "ECOMBUS_SHIPPING_TRACKER_INTAKE_TOPIC": topics["carriers"],
                             "ECOMBUS_SHIPPING_TRACKER_INTAKE_CHANGELOG_TOPIC": f"{topics['carriers']}.log",
                             "ECOMBUS_SHIPPING_TRACKER_INTAKE_GROUP_ID": f"ecombus.shipping-tracker.in.{tag}",
                             "ECOMBUS_ORDER_CAPTURE_CURSOR_TOPIC": f"test.stack.cursors.{tag}",
                             "ECOMBUS_SHIPPING_TRACKER_SHIPMENTS_TOPIC": topics["shipments"],
                             "ECOMBUS_SHIPPING_TRACKER_STATUS_TOPIC": topics["status"],
                             "ECOMBUS_GROUP_ID": f"ecombus.shipping-tracker.{tag}"})
    try:
        started = stack.up(kafka_bootstrap, schema_registry_url, progress=lambda _: None)
        assert [r.name for r in started] == list(ORDER_FLOW)
        assert wait_for(lambda: all(s.ready for s in stack.status()), timeout=60), stack.status()
        assert all(Path(s.log_file or "").parent == tmp_path / "logs" for s in stack.status())
        store = f"http://127.0.0.1:{stack.ports['storefront-sim']}"
        sent = httpx.post(f"{store}/_sim/orders", json={"platform": "shopify"}, timeout=30).json()
        assert (sent["delivery"]["status"], sent["delivery"]["answer"]["status"]) == (200, "accepted")
        assert wait_for(lambda: len(read_all(kafka_bootstrap, topics["orders"])) == 1, 60)
        [order] = read_all(kafka_bootstrap, topics["orders"])
        assert order.key() == b"shopify:hanako-tea.myshopify.com:6120004415"
        carrier = f"http://127.0.0.1:{stack.ports['carrier-sim']}"
        shipped = httpx.post(f"{carrier}/_sim/shipments", timeout=60, json={
            "order_reference": "6120004415", "provider": "easypost", "out_of_order": True}).json()
        assert {s["http_status"] for s in shipped["sent"]} == {200}
        codec = AvroCodec(RegistryClient(schema_registry_url),
                          reader_schemas={topics["status"]: schema_for_topic("orders.status.v1")})
        assert wait_for(lambda: "DELIVERED" in [codec.decode(topics["status"], m.value())["status"]
                                                for m in read_all(kafka_bootstrap, topics["status"])], 60)
    finally:
        pids = [s.pid for s in stack.status() if s.pid]
        stopped = stack.down()
    assert sorted(stopped) == sorted(ORDER_FLOW)
    assert not [pid for pid in pids if process_alive(pid)]
    assert all(s.pid is None for s in stack.status())
    assert not os.listdir(tmp_path / "procs")
