"""SIGKILL the router mid-batch and mid-file, restart it: no row lost, none duplicated.

The router runs as a real process (``ecombus run router``) on the shipped routes
for the ERP files: 3,000 orders (6,000 order lines) become ERP import rows in batches of 400,
and a 20,000-row stock file becomes StockLevelChanged events. The router is killed once while
batches are being written, once in the middle of the stock file's transaction, then restarted
to finish; every row must then be there exactly once.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import yaml
from confluent_kafka import Producer

from bus.contracts.catalog import schema_for_topic
from bus.contracts.examples import order_placed
from bus.serde import AvroCodec, RegistryClient
from services.router.routes import DEFAULT_ROUTES_FILE
from tests.integration.processes import ROOT, service_env
from tests.integration.runtime.kafka_io import read_all, wait_for

ORDERS, STOCK_ROWS = 3_000, 20_000


def _routes_file(folder: Path) -> Path:
    """The shipped routes that write and read ERP files (the HTTP route needs no crash test)."""
    document = yaml.safe_load(DEFAULT_ROUTES_FILE.read_text(encoding="utf-8"))
    wanted = ("erp-stock-file", "orders-to-erp-csv")
    document["routes"] = [r for r in document["routes"] if r["name"] in wanted]
    path = folder / "routes.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _written_rows(folder: Path) -> list[tuple[str, str]]:
    rows = []
    for path in folder.glob("erp-orders-*.csv"):
        rows += [(r["External ID"], r["Item"])
                 for r in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline=""))]
    return rows


def test_sigkill_mid_batch_and_mid_file_loses_and_duplicates_nothing(
        kafka_bootstrap: str, schema_registry_url: str, new_topic: Callable[..., str],
        tmp_path: Path) -> None:
    orders_topic, levels_topic = new_topic("orders", partitions=3), new_topic("levels", partitions=3)
    stock_dir, orders_dir, state = tmp_path / "stock", tmp_path / "orders", tmp_path / "state"
    log_file = tmp_path / "router.log"
    env = service_env(kafka_bootstrap, schema_registry_url, f"ecombus.router.{orders_topic}",
                      ECOMBUS_ROUTER_ROUTES_FILE=str(_routes_file(tmp_path)),
                      ECOMBUS_ROUTER_STATE_DIR=str(state),
                      ECOMBUS_ROUTER_TOPICS=json.dumps({"orders.placed.v1": orders_topic,
                                                        "inventory.levels.v1": levels_topic}),
                      ERP_STOCK_DIR=str(stock_dir), ERP_ORDERS_DIR=str(orders_dir),
                      ERP_ORDERS_BATCH_ROWS="400", ERP_ORDERS_BATCH_SECONDS="2", ERP_STOCK_SETTLE_SECONDS="0")

    def start() -> subprocess.Popen[bytes]:
        with open(log_file, "ab") as log:
            return subprocess.Popen([sys.executable, "-m", "bus.tools.cli", "run", "router"], cwd=ROOT,
                                    env=env, stdout=log, stderr=subprocess.STDOUT)

    def kill(process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    codec = AvroCodec(RegistryClient(schema_registry_url),
                      writer_schemas={orders_topic: schema_for_topic("orders.placed.v1")})
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True, "linger.ms": 10})
    expected = set()
    for number in range(ORDERS):
        order = order_placed(100_000 + number, line_count=2)
        producer.produce(orders_topic, key=order.order_id.encode(), value=codec.encode(orders_topic, order))
        expected |= {(f"SHOP-{100_000 + number}", line.sku) for line in order.lines}
    assert producer.flush(60) == 0

    first = start()  # killed while order batches are being written
    assert wait_for(lambda: len(_written_rows(orders_dir)) >= 400, timeout=120), log_file.read_text()
    kill(first)
    assert len(_written_rows(orders_dir)) < len(expected), "finished before the kill; nothing tested"

    tag = uuid.uuid4().hex[:8]
    stock = "\ufeffsku,location,on_hand,reserved,as_of\n" + "".join(
        f"SKU-{tag}-{i:05d},TOKYO-1,{i % 97},{i % 5},2025-06-03T09:00:00Z\n" for i in range(STOCK_ROWS))
    stock_dir.mkdir(parents=True, exist_ok=True)
    (stock_dir / ".big.csv.tmp").write_text(stock, encoding="utf-8")
    os.replace(stock_dir / ".big.csv.tmp", stock_dir / "big.csv")
    second = start()  # killed inside the stock file's transaction
    marker = f"file big.csv: processing {STOCK_ROWS} records"
    assert wait_for(lambda: marker in log_file.read_text(errors="replace"), timeout=120), log_file.read_text()
    kill(second)
    assert (stock_dir / "big.csv").exists(), "the file was finished before the kill; nothing tested"

    third = start()
    try:
        assert wait_for(lambda: (stock_dir / "done" / "big.csv").exists(), timeout=180), log_file.read_text()
        assert wait_for(lambda: len(_written_rows(orders_dir)) >= len(expected), timeout=180), \
            log_file.read_text()[-3000:]
    finally:
        third.send_signal(signal.SIGTERM)
        third.wait(60)
    assert third.returncode == 0, log_file.read_text()[-3000:]

    rows = _written_rows(orders_dir)
    duplicates = [row for row, count in Counter(rows).items() if count > 1]
    assert duplicates == [], f"{len(duplicates)} ERP rows written twice, e.g. {duplicates[:3]}"
    assert set(rows) == expected
    keys = Counter(msg.key() for msg in read_all(kafka_bootstrap, levels_topic, isolation="read_committed"))
    assert len(keys) == STOCK_ROWS, f"{STOCK_ROWS - len(keys)} stock rows missing"
    assert max(keys.values()) == 1, "a stock row was published twice"
