"""The storefront simulator's after-sale controls, read by order-capture as the platforms' webhooks.

The simulator runs in process (its webhooks land in an httpx MockTransport); each captured
webhook is verified with the platform's signature scheme, identified as the edge does and
interpreted as the intake stage does. The BigCommerce refund is fetched from the simulator's own
v3 refunds API; the Shopify admin API's listed order carries the refund for reconciliation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from bus.contracts import models as m
from bus.http import ApiClient
from bus.webhooks.body import parse_json_object
from bus.webhooks.endpoint import Delivery
from bus.webhooks.intake import RECONCILIATION
from services.order_capture.handlers import Identities, OrderCapture, Topics
from simulators.storefront import StorefrontConfig, create_app

SHOP = "hanako-tea.myshopify.com"


@dataclass
class Receiver:
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={"status": "accepted"})

    def delivery(self, platform: str) -> Delivery:
        last = self.requests[-1]
        headers = {k.lower(): v for k, v in last.headers.items()}
        body = last.content
        delivery = Delivery(platform, last.url.path, headers, body, parse_json_object(body), 0.0)
        identity = getattr(Identities, platform)(delivery)
        return Delivery(
            platform,
            last.url.path,
            headers,
            body,
            delivery.payload,
            0.0,
            tenant=identity.tenant,
            identity=identity.key,
        )


@dataclass
class Sim:
    client: TestClient
    receiver: Receiver
    capture: OrderCapture


@pytest.fixture
def sim() -> Iterator[Sim]:
    receiver = Receiver()
    config = StorefrontConfig(
        webhook_urls={
            p: f"http://capture.test/webhooks/{p}" for p in ("shopify", "woocommerce", "bigcommerce")
        }
    )
    app = create_app(config, webhook_client=httpx.AsyncClient(transport=httpx.MockTransport(receiver.handle)))
    with TestClient(app) as client:

        def forward(request: httpx.Request) -> httpx.Response:
            answer = client.request(request.method, request.url.raw_path.decode())
            return httpx.Response(answer.status_code, content=answer.content)

        api = ApiClient("bigcommerce", "http://store.test", transport=httpx.MockTransport(forward))
        woo = ApiClient("woocommerce", "http://store.test", transport=httpx.MockTransport(forward))
        yield Sim(client, receiver, OrderCapture(Topics(), api, woocommerce_api=woo))


def _events(sim: Sim, platform: str) -> list[Any]:
    return [r.value for r in sim.capture.interpret(sim.receiver.delivery(platform)).records]


def test_a_shopify_kwd_order_refunded_one_of_three_units_with_restock_and_listed_for_reconciliation(
    sim: Sim,
) -> None:
    order = sim.client.post("/_sim/orders", json={"profile": "kw", "number": 3002}).json()["order"]
    listed = sim.client.get("/admin/api/2024-10/orders.json", params={"status": "any"}).json()["orders"]
    [line] = [x for x in listed[0]["line_items"] if x["sku"] == "MATCHA-40G"]
    assert line["quantity"] == 3
    answer = sim.client.post(
        f"/_sim/orders/{order['id']}/refund",
        json={"lines": [{"sku": "MATCHA-40G", "quantity": 1, "restock_type": "return"}], "shipping": "1.000"},
    ).json()
    assert answer["delivery"]["status"] == 200 and answer["delivery"]["topic"] == "refunds/create"
    delivery = sim.receiver.delivery("shopify")
    assert delivery.identity == f"shopify:{SHOP}:{order['id']}", "the refund shares the order's key"
    [refund] = _events(sim, "shopify")
    [refunded] = refund.lines
    assert (refunded.sku, refunded.quantity, refunded.restock, refunded.restock_type) == (
        "MATCHA-40G",
        1,
        True,
        m.RestockType.RETURN,
    )
    assert str(refunded.amount.shop.amount) == "4.250" and refund.currency == "KWD"
    assert refund.shipping is not None and str(refund.shipping.shop.amount) == "1.000"
    assert refund.total.shop.amount == Decimal("4.250") + Decimal("0.361") + Decimal("1.000")
    [listed_order] = sim.client.get("/admin/api/2024-10/orders.json", params={"status": "any"}).json()[
        "orders"
    ]
    body = json.dumps(listed_order).encode()
    reconciled = OrderCapture(Topics()).interpret(
        Delivery(
            "shopify", "/admin", {}, body, parse_json_object(body), 0.0, channel=RECONCILIATION, tenant=SHOP
        )
    )
    assert reconciled.parts[1].dedupe_keys == (refund.meta.event_id,), "reconciliation names the same refund"


def test_shopify_cancel_return_steps_and_dispute(sim: Sim) -> None:
    order = sim.client.post("/_sim/orders", json={"profile": "jp", "number": 3003}).json()["order"]
    ident = order["id"]
    sim.client.post(
        f"/_sim/orders/{ident}/return",
        json={"step": "request", "return_id": 77, "lines": [{"sku": "HOJICHA-100G", "quantity": 1}]},
    )
    [requested] = _events(sim, "shopify")
    sim.client.post(
        f"/_sim/orders/{ident}/return",
        json={"step": "process", "return_id": 77, "lines": [{"sku": "HOJICHA-100G", "quantity": 1}]},
    )
    [received] = _events(sim, "shopify")
    assert (requested.status, received.status) == (m.ReturnStatus.REQUESTED, m.ReturnStatus.RECEIVED)
    assert requested.return_id == received.return_id == "77"
    sim.client.post(f"/_sim/orders/{ident}/dispute", json={"dispute_id": 55, "amount": "10.00"})
    [dispute] = _events(sim, "shopify")
    assert (dispute.dispute_id, dispute.amount.amount, dispute.status) == (
        "55",
        Decimal("10.00"),
        m.DisputeStatus.NEEDS_RESPONSE,
    )
    sim.client.post(f"/_sim/orders/{ident}/cancel", json={"reason": "customer"})
    _status, cancelled = _events(sim, "shopify")
    assert isinstance(cancelled, m.OrderCancelled) and cancelled.reason == "customer"


def test_woocommerce_and_bigcommerce_refunds_and_cancellations(sim: Sim) -> None:
    sim.client.post("/_sim/orders", json={"platform": "woocommerce", "number": 801})
    sim.client.post(
        "/_sim/orders/801/refund", json={"platform": "woocommerce", "amount": "4.90", "refund_id": 9001}
    )
    [woo_refund] = _events(sim, "woocommerce")
    assert isinstance(woo_refund, m.OrderRefunded) and str(woo_refund.total.shop.amount) == "4.90"
    sim.client.post(
        "/_sim/orders/801/refund",
        json={"platform": "woocommerce", "refund_id": 9002, "lines": [{"sku": "MATCHA-40G", "quantity": 1}]},
    )
    summary = sim.receiver.delivery("woocommerce").payload["refunds"][-1]
    assert "line_items" not in summary and summary["total"] == "-15.00", "the webhook has the summary only"
    refunds = _events(sim, "woocommerce")
    assert [r.refund_id for r in refunds] == ["9001", "9002"]
    [line] = refunds[1].lines
    assert (line.line_id, line.sku, line.quantity, str(line.amount.shop.amount)) == (
        "316",
        "MATCHA-40G",
        1,
        "15.00",
    ), "fetched from /wp-json/wc/v3/orders/801/refunds, its -1 units normalised"
    sim.client.post("/_sim/orders/801/cancel", json={"platform": "woocommerce"})
    found = _events(sim, "woocommerce")
    assert [type(e).__name__ for e in found] == [
        "OrderStatusChanged",
        "OrderCancelled",
        "OrderRefunded",
        "OrderRefunded",
    ]
    sim.client.post("/_sim/orders", json={"platform": "bigcommerce", "number": 251})
    answer = sim.client.post(
        "/_sim/orders/251/refund",
        json={"platform": "bigcommerce", "refund_id": 12, "lines": [{"sku": "MATCHA-40G", "quantity": 1}]},
    )
    assert answer.json()["delivery"]["topic"] == "store/order/refund/created"
    [bc_refund] = _events(sim, "bigcommerce")
    assert bc_refund.refund_id == "12" and bc_refund.lines[0].sku == "MATCHA-40G"
    sim.client.post("/_sim/orders/251/cancel", json={"platform": "bigcommerce"})
    [bc_cancelled] = _events(sim, "bigcommerce")
    assert bc_cancelled.meta.event_id == "bigcommerce:1025646:251:cancelled"
