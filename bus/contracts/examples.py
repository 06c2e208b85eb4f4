"""Realistic example events, one per event type, for tests, benchmarks and documentation.

The order is the Shopify ``orders/create`` fixture (shared/fixtures/shopify_orders_create.json):
a USD shop, a customer paying in JPY, a Japanese name and an address with full-width digits
and a U+2212 minus sign, which must survive every hop unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from bus.contracts import models as m

SHOP = "hanako-tea.myshopify.com"
PLACED_AT = datetime(2025, 6, 3, 1, 12, 43, tzinfo=UTC)  # 2025-06-03T10:12:43+09:00

ADDRESS = m.Address(first_name="花子", last_name="佐藤", line1="神宮前1丁目2\u22123", line2="青葉ビル５Ｆ",
                    city="渋谷区", province="東京都", postal_code="150-0001", country_code="JP",
                    phone="+81-90-1234-5678")
CUSTOMER = m.Customer(customer_id="7311002", email="hanako.sato@example.jp", first_name="花子",
                      last_name="佐藤", phone="+81-90-1234-5678")

_PRODUCTS = [("MATCHA-40G", "抹茶 40g", "17.80", "2650"), ("HOJICHA-100G", "ほうじ茶 100g", "12.50", "1860"),
             ("SENCHA-80G", "煎茶 80g", "9.95", "1480"), ("YUZU-SOAP", "柚子石鹸", "6.00", "890")]


def money(shop: str, presentment: str | None = None) -> m.MoneySet:
    """A USD shop amount with an optional JPY presentment amount."""
    return m.MoneySet(shop=m.Money(amount=Decimal(shop), currency="USD"),
                      presentment=None if presentment is None else m.Money(amount=Decimal(presentment),
                                                                           currency="JPY"))


def meta(event_id: str, correlation_id: str = "shopify:6120004415", platform: str = "shopify",
         causation_id: str | None = None) -> m.Meta:
    """An envelope from the example shop."""
    return m.Meta(event_id=event_id, occurred_at=PLACED_AT, correlation_id=correlation_id,
                  source=m.Source(platform=platform, system=SHOP), causation_id=causation_id)


def order_placed(order_number: int = 1042, line_count: int = 1) -> m.OrderPlaced:
    """The fixture's order; ``line_count`` > 1 repeats its products cyclically (2 units each).

    Totals are computed from the lines, tax at 8.5 % of the subtotal, so they stay consistent.
    """
    lines = []
    for i in range(line_count):
        sku, title, usd, jpy = _PRODUCTS[i % len(_PRODUCTS)]
        lines.append(m.OrderLine(line_id=str(13990001 + i), sku=sku, title=title, quantity=2,
                                 unit_price=money(usd, jpy)))
    subtotal = sum((2 * ln.unit_price.shop.amount for ln in lines), Decimal(0))
    subtotal_jpy = sum((2 * ln.unit_price.presentment.amount for ln in lines if ln.unit_price.presentment),
                       Decimal(0))
    tax = (subtotal * Decimal("0.085")).quantize(Decimal("0.01"))
    tax_jpy = (subtotal_jpy * Decimal("0.085")).quantize(Decimal("1"))
    order_id = f"shopify:{SHOP}:{6120004415 + order_number - 1042}"
    return m.OrderPlaced(
        meta=meta(f"shopify-order-{order_id}", correlation_id=order_id),
        order_id=order_id, platform_order_id=str(6120004415 + order_number - 1042),
        order_number=f"#{order_number}", placed_at=PLACED_AT, currency="USD",
        presentment_currency="JPY", financial_status=m.FinancialStatus.PAID, customer=CUSTOMER,
        lines=lines,
        totals=m.OrderTotals(subtotal=money(str(subtotal), str(subtotal_jpy)),
                             tax=money(str(tax), str(tax_jpy)), discounts=money("0.00", "0"),
                             shipping=money("0.00", "0"),
                             total=money(str(subtotal + tax), str(subtotal_jpy + tax_jpy))),
        shipping_address=ADDRESS, billing_address=replace(ADDRESS, phone=None),
    )


def examples() -> dict[str, m.Event]:
    """One realistic instance of every event, by event name (the keys of ``models.EVENTS``)."""
    order = order_placed()
    caused = {"correlation_id": order.order_id, "causation_id": order.meta.event_id}
    return {
        "OrderPlaced": order,
        "OrderStatusChanged": m.OrderStatusChanged(
            meta=meta("status-1", platform="ecombus", **caused), order_id=order.order_id,
            status=m.OrderStatus.RESERVED, previous_status=m.OrderStatus.PLACED, reason="all lines reserved"),
        "StockLevelChanged": m.StockLevelChanged(
            meta=meta("erp-stock-2025-06-03.csv:2", correlation_id="erp-stock-2025-06-03.csv",
                      platform="erp"),
            sku="MATCHA-40G", location="TOKYO-1", on_hand=120, available=112, reserved=8, as_of=PLACED_AT),
        "StockReservation": m.StockReservation(
            meta=meta("reservation-1", platform="ecombus", **caused), order_id=order.order_id,
            result=m.ReservationResult.RESERVED,
            lines=[m.ReservationLine(sku="MATCHA-40G", requested=2, reserved=2,
                                     result=m.ReservationResult.RESERVED, location="TOKYO-1")]),
        "CustomerUpserted": m.CustomerUpserted(
            meta=meta("customer-1", **caused), customer_key="hanako.sato@example.jp", customer=CUSTOMER,
            default_address=ADDRESS, accepts_marketing=True, locale="ja-JP"),
        "ShipmentUpdated": m.ShipmentUpdated(
            meta=meta("evt_2B3C", platform="easypost", **caused), order_id=order.order_id,
            carrier="JapanPost", tracking_number="EJ123456789JP", status=m.ShipmentStatus.IN_TRANSIT,
            carrier_status="in_transit", message="渋谷郵便局に到着",
            location=m.ShipmentLocation(city="渋谷区", province="東京都", country_code="JP"),
            occurred_at=PLACED_AT, tracking_url="https://tracking.example/EJ123456789JP"),
        "ProcessingRecord": m.ProcessingRecord(
            meta=meta("audit-1", platform="ecombus", **caused), service="inventory-sync",
            event_id=order.meta.event_id, outcome=m.ProcessingOutcome.OK, duration_seconds=0.012,
            attempts=1, topic="orders.placed.v1", partition=3, offset=42, handler="reserve_stock",
            order_id=order.order_id),
        "RawDelivery": m.RawDelivery(
            meta=meta("0f1e2d3c4b5a69788796a5b4c3d2e1f0", correlation_id=order.order_id),
            identity=order.order_id, channel="webhook", topic="orders/create", path="/webhooks/shopify",
            headers={"x-shopify-topic": "orders/create", "x-shopify-event-id": "evt-1"},
            body=b'{"id": 6120004415, "email": "hanako.sato@example.jp"}',
            received_by="order-capture@order-capture-0", remote_addr="203.0.113.9"),
        "OrderCancelled": m.OrderCancelled(
            meta=meta("shopify:6120004415:cancelled", **caused), order_id=order.order_id,
            cancelled_at=PLACED_AT, reason="customer", restock=True),
        "OrderRefunded": m.OrderRefunded(
            meta=meta("shopify:refund:509562969", **caused), order_id=order.order_id, refund_id="509562969",
            refunded_at=PLACED_AT, currency="USD",
            lines=[m.RefundLine(line_id="13990001", sku="MATCHA-40G", quantity=1,
                                amount=money("17.80", "2650"), restock=True,
                                restock_type=m.RestockType.RETURN, location="TOKYO-1")],
            shipping=money("0.00"), tax=money("1.51", "225"), total=money("19.31", "2875"),
            transactions=[m.PaymentTransaction(transaction_id="389404469", kind="refund",
                                               gateway="shopify_payments", status="success",
                                               amount=m.Money(amount=Decimal("19.31"), currency="USD"),
                                               processed_at=PLACED_AT)],
            reason="the tin arrived dented"),
        "ReturnUpdated": m.ReturnUpdated(
            meta=meta("shopify:return:945000954:RECEIVED", **caused), order_id=order.order_id,
            return_id="945000954", status=m.ReturnStatus.RECEIVED,
            lines=[m.ReturnLine(line_id="13990001", sku="MATCHA-40G", quantity=1, reason="DEFECTIVE")],
            requested_at=PLACED_AT, received_at=PLACED_AT, location="TOKYO-1"),
        "DisputeUpdated": m.DisputeUpdated(
            meta=meta("shopify:dispute:598735659:NEEDS_RESPONSE", **caused), order_id=order.order_id,
            dispute_id="598735659", kind="chargeback", status=m.DisputeStatus.NEEDS_RESPONSE,
            amount=m.Money(amount=Decimal("38.63"), currency="USD"), reason="fraudulent",
            evidence_due_by=PLACED_AT),
    }
