"""The ERP simulator: cXML orders and credit memos in (deduplicated by payloadID), imports read by
record type, stock dropped."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from bus.contracts.examples import examples, order_placed
from services.router.formats.cxml import order_request
from services.router.formats.cxml_credit_memo import credit_memo
from simulators.erp import OrderImports, drop_stock_file, erp_app


def test_cxml_orders_are_imported_once_and_failures_can_be_injected(tmp_path: Path) -> None:
    imports = OrderImports(tmp_path / "orders")
    client = TestClient(erp_app(imports))
    body = order_request(order_placed().to_avro())
    client.post("/_sim/fail", params={"status": 503, "count": 1})
    assert client.post("/cxml/orders", content=body).status_code == 503
    for _ in range(2):
        answer = client.post("/cxml/orders", content=body)
        assert answer.status_code == 200 and 'code="200"' in answer.text
    assert client.post("/cxml/orders", content=b"<nope/>").status_code == 400
    received = client.get("/_sim/received").json()
    assert [o["order_id"] for o in received["orders"]] == ["SHOP-1042"]
    assert received["duplicates"] == 1


def test_import_files_are_read_and_moved_and_stock_is_dropped_atomically(tmp_path: Path) -> None:
    orders = tmp_path / "orders"
    orders.mkdir()
    (orders / "erp-orders-1.csv").write_bytes("\ufeffExternal ID,Item\nWOO-727,MATCHA-40G\n".encode())
    (orders / ".erp-orders-2.csv.tmp").write_bytes(b"half")
    imports = OrderImports(orders)
    assert imports.poll() == 1
    assert imports.snapshot() == {"rows": [{"External ID": "WOO-727", "Item": "MATCHA-40G"}],
                                  "files": ["erp-orders-1.csv"], "credit_memos": [],
                                  "return_authorizations": []}
    assert (orders / "imported" / "erp-orders-1.csv").exists()
    dropped = drop_stock_file(tmp_path / "stock")
    assert dropped.read_bytes().startswith("\ufeffsku,location,on_hand".encode())
    assert [p.name for p in (tmp_path / "stock").iterdir()] == ["erp_stock_levels.csv"]


def test_the_erp_simulator_answers_readyz() -> None:
    response = TestClient(erp_app(None)).get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_cxml_credit_memos_are_imported_once_by_payload_id(tmp_path: Path) -> None:
    client = TestClient(erp_app(OrderImports(tmp_path / "orders")))
    body = credit_memo(examples()["OrderRefunded"].to_avro())
    for _ in range(2):
        answer = client.post("/cxml/credit-memos", content=body)
        assert answer.status_code == 200 and 'code="200"' in answer.text
    not_a_memo = order_request(order_placed().to_avro())
    assert client.post("/cxml/credit-memos", content=not_a_memo).status_code == 400
    received = client.get("/_sim/received").json()
    assert [(c["credit_memo_id"], c["net_amount"]) for c in received["credit_memos"]] == [
        ("SHOP-CM-509562969", "-19.31")]
    assert (received["credit_memo_duplicates"], received["duplicates"], received["orders"]) == (1, 0, [])


def test_after_sale_import_files_are_kept_by_record_type(tmp_path: Path) -> None:
    folder = tmp_path / "orders"
    folder.mkdir()
    (folder / "erp-credit-memos-p0-1.csv").write_bytes("\ufeffExternal ID,Item\nSHOP-CM-1,TAX\n".encode())
    (folder / "erp-return-authorizations-p0-1.csv").write_bytes(b"External ID,Item\nSHOP-RA-1,MATCHA-40G\n")
    (folder / "erp-orders-p0-1.csv").write_bytes(b"External ID,Item\nSHOP-1042,MATCHA-40G\n")
    imports = OrderImports(folder)
    assert imports.poll() == 3
    snapshot = imports.snapshot()
    assert snapshot["rows"] == [{"External ID": "SHOP-1042", "Item": "MATCHA-40G"}]
    assert snapshot["credit_memos"] == [{"External ID": "SHOP-CM-1", "Item": "TAX"}]
    assert snapshot["return_authorizations"] == [{"External ID": "SHOP-RA-1", "Item": "MATCHA-40G"}]
