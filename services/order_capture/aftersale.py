"""After the sale, on every platform: dedupe keys, event envelopes and money sums.

The platform modules (:mod:`~services.order_capture.shopify_aftersale`,
:mod:`~services.order_capture.woocommerce_aftersale`,
:mod:`~services.order_capture.bigcommerce_aftersale`) turn a platform's cancellation, refund,
return or dispute into OrderCancelled, OrderRefunded, ReturnUpdated and DisputeUpdated events.
Each event is one fact about an order, named by a dedupe key that is also its ``event_id``:

======================  =================================================  ======================
event                   dedupe key (= ``meta.event_id``)                   example
======================  =================================================  ======================
OrderCancelled          ``<order_id>:cancelled``                           an order is cancelled once
OrderRefunded           ``<order_id>:refund:<refund id>``                  a refund is never edited
ReturnUpdated           ``<order_id>:return:<return id>:<STATUS>``         one event per step
DisputeUpdated          ``<order_id>:dispute:<dispute id>:<STATUS>``       one event per step
======================  =================================================  ======================

So the same fact published by two ways (a redelivered webhook, a WooCommerce ``order.updated``
repeated, a refund listed by reconciliation after its webhook) is decided once by the intake
stage, whichever comes first. Whether the order is known to the bus is not decided here
(inventory-sync and crm-updater dead-letter a refund for an order they never saw).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from bus.contracts import models as m
from bus.errors import InvalidInput

AfterSaleEvent = m.OrderCancelled | m.OrderRefunded | m.ReturnUpdated | m.DisputeUpdated

RESTOCKING = frozenset({m.RestockType.CANCEL, m.RestockType.RETURN, m.RestockType.LEGACY_RESTOCK})
"""Restock types whose units go back into sellable stock."""


def cancelled_key(order_id: str) -> str:
    """``shopify:hanako-tea.myshopify.com:6120004415:cancelled``."""
    return f"{order_id}:cancelled"


def refund_key(order_id: str, refund_id: str) -> str:
    """``<order_id>:refund:<refund id>``."""
    return f"{order_id}:refund:{refund_id}"


def return_key(order_id: str, return_id: str, status: m.ReturnStatus) -> str:
    """``<order_id>:return:<return id>:<STATUS>``."""
    return f"{order_id}:return:{return_id}:{status.value}"


def dispute_key(order_id: str, dispute_id: str, status: m.DisputeStatus) -> str:
    """``<order_id>:dispute:<dispute id>:<STATUS>``."""
    return f"{order_id}:dispute:{dispute_id}:{status.value}"


def meta(key: str, order_id: str, occurred_at: datetime, platform: str, system: str) -> m.Meta:
    """The envelope of an after-sale event: ``event_id`` is its dedupe key, the order correlates."""
    return m.Meta(event_id=key, occurred_at=occurred_at, source=m.Source(platform=platform, system=system),
                  correlation_id=order_id)


def restock_type(value: object, *, legacy_restock: bool | None = None) -> m.RestockType:
    """A platform's restock type (``no_restock``, ``cancel``, ``return``, ``legacy_restock``, any
    case) as the contract's; absent, the refund-level ``restock`` flag of older payloads decides
    (LEGACY_RESTOCK or NO_RESTOCK), else UNKNOWN; an unknown name is UNKNOWN."""
    if value is None or value == "":
        if legacy_restock is None:
            return m.RestockType.UNKNOWN
        return m.RestockType.LEGACY_RESTOCK if legacy_restock else m.RestockType.NO_RESTOCK
    name = str(value).upper()
    return m.RestockType(name) if name in m.RestockType.__members__ else m.RestockType.UNKNOWN


def total(amounts: Iterable[m.MoneySet], currency: str) -> m.MoneySet:
    """The sum of ``amounts`` in the shop ``currency``; the presentment sum only when every amount
    has one in the same currency. Decimals are added exactly (``1.250 + 0.125 = 1.375``).

    Raises:
        InvalidInput: an amount is in another shop currency (names ``currency``).
    """
    shop, presentment, codes, every = Decimal(0), Decimal(0), set(), True
    count = 0
    for amount in amounts:
        count += 1
        if amount.shop.currency != currency:
            raise InvalidInput("an amount of the refund is not in the order's currency", field="currency")
        shop += amount.shop.amount
        if amount.presentment is None:
            every = False
        else:
            presentment += amount.presentment.amount
            codes.add(amount.presentment.currency)
    shown = (m.Money(amount=presentment, currency=codes.pop())
             if count and every and len(codes) == 1 else None)
    return m.MoneySet(shop=m.Money(amount=shop, currency=currency), presentment=shown)


def positive(value: Decimal) -> Decimal:
    """An amount a platform sends negative for money going back (WooCommerce refunds, Shopify
    order adjustments), as the positive amount refunded; its digits are kept."""
    return -value if value < 0 else value
