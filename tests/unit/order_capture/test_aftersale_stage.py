"""After-sale deliveries through the exactly-once intake stage: each fact published once.

The deliveries are stored as the edge stores them and run through the real ConsumerLoop with
``Interpreter(dedupe, OrderCapture.interpret)`` (tests/unit/order_capture/test_stage.py's
:class:`Stage`), with the in-memory and the SQLite dedupe state: a redelivered refund, the same
refund listed by reconciliation, a repeated WooCommerce ``order.updated`` and a cancellation
carrying a refund already published each publish nothing twice, while their new parts are
published.
"""

from __future__ import annotations

from simulators import fixture
from tests.unit.order_capture.test_stage import CHANGELOG, ORDER, SHOP, Stage, dedupe, stage

__all__ = ["dedupe", "stage"]  # the fixtures, shared with test_stage

REFUND_KEY = f"{ORDER}:refund:509562969"


def _refund(stage: Stage, event_id: str = "evt-r1") -> bytes:
    return stage.shopify(event_id, "refunds/create", fixture("aftersale/shopify_refunds_create.json"))


def test_a_redelivered_refund_is_published_once(stage: Stage) -> None:
    run = stage.run([_refund(stage)], [_refund(stage)], [_refund(stage, "evt-other-id")])
    [refund] = stage.decoded(run, "orders.refunds.v1")
    assert refund["meta"]["event_id"] == REFUND_KEY and refund["order_id"] == ORDER
    assert [p.key for p in run.committed(CHANGELOG)] == [REFUND_KEY.encode()], \
        "keyed by the refund, not the delivery: even a new event id publishes nothing"


def test_a_refund_its_webhook_published_is_not_published_again_by_reconciliation(stage: Stage) -> None:
    order = fixture("aftersale/shopify_orders_cancelled.json").replace(b'"id": 509562980', b'"id": 509562969')
    reconciled = stage.raw(order, channel="reconciliation", path="/admin/api/2024-10/orders.json")
    run = stage.run([stage.shopify()], [_refund(stage)], [reconciled])
    assert len(stage.decoded(run, "orders.refunds.v1")) == 1
    assert len(stage.decoded(run, "orders.placed.v1")) == 1
    [cancelled] = stage.decoded(run, "orders.cancellations.v1")
    assert cancelled["meta"]["event_id"] == f"{ORDER}:cancelled", "the new part of the reconciled order"


def test_a_lost_refund_webhook_is_backfilled_by_reconciliation_once(stage: Stage) -> None:
    order = fixture("aftersale/shopify_orders_cancelled.json")
    reconciled = stage.raw(order, channel="reconciliation", path="/admin/api/2024-10/orders.json")
    cancelled = stage.shopify("evt-c", "orders/cancelled", order)
    run = stage.run([reconciled], [reconciled, cancelled])
    [refund] = stage.decoded(run, "orders.refunds.v1")
    assert refund["refund_id"] == "509562980"
    assert len(stage.decoded(run, "orders.cancellations.v1")) == 1
    assert len(stage.decoded(run, "orders.status.v1")) == 1, "the webhook's status change is its own part"


def test_a_repeated_woocommerce_order_update_publishes_each_refund_once(stage: Stage) -> None:
    body = fixture("aftersale/woocommerce_order_updated_refunded.json")
    headers = {"x-wc-webhook-topic": "order.updated", "x-wc-webhook-source": "https://shop.example.de/"}
    order = "woocommerce:shop.example.de:727"

    def update(raw: bytes) -> bytes:
        return stage.raw(raw, headers, platform="woocommerce", identity=order, tenant="shop.example.de",
                         topic="order.updated", path="/webhooks/woocommerce")

    later = body.replace(b'"date_modified_gmt": "2025-06-05T08:00:00"',
                         b'"date_modified_gmt": "2025-06-05T09:00:00"')
    run = stage.run([update(body)], [update(body), update(later)])
    refunds = stage.decoded(run, "orders.refunds.v1")
    assert sorted(r["refund_id"] for r in refunds) == ["1200", "1201"]
    assert all(p.key == order for p in run.committed("orders.refunds.v1"))


def test_each_return_step_and_dispute_status_is_published_once(stage: Stage) -> None:
    request = stage.shopify("evt-q", "returns/request", fixture("aftersale/shopify_returns_request.json"))
    process = stage.shopify("evt-p", "returns/process", fixture("aftersale/shopify_returns_process.json"))
    dispute = stage.shopify("evt-d", "disputes/create", fixture("aftersale/shopify_disputes_create.json"))
    run = stage.run([request, process, dispute], [request, process, dispute])
    assert [r["status"] for r in stage.decoded(run, "orders.returns.v1")] == ["REQUESTED", "RECEIVED"]
    [found] = stage.decoded(run, "orders.disputes.v1")
    assert found["meta"]["event_id"] == f"{ORDER}:dispute:598735659:NEEDS_RESPONSE"


def test_a_dispute_on_no_order_is_dead_lettered_with_the_reason(stage: Stage) -> None:
    raw = stage.raw(fixture("aftersale/shopify_disputes_no_order.json"),
                    {"x-shopify-topic": "disputes/create", "x-shopify-shop-domain": SHOP},
                    identity=f"shopify:{SHOP}:disputes:598735660", topic="disputes/create")
    run = stage.run([raw])
    [dead] = run.committed("dlq.order-capture")
    assert dead.value == raw
    assert b"order_id" in dict(dead.headers)["__connect.errors.exception.message"]
    assert run.committed("orders.disputes.v1") == []
