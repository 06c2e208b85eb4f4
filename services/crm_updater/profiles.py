"""Customers as the CRM should see them: the latest profile plus lifetime figures, counted once.

A :class:`CustomerState` is keyed by the lower-cased email (HubSpot upserts contacts by email).
Lifetime figures are derived from the orders counted, kept by ``order_id``, so counting is
idempotent: a replayed or redelivered OrderPlaced finds its order already there and changes
nothing. Spend is summed per shop currency (``totals.total.shop``), exactly (Decimal).

Profile fields come from CustomerUpserted events, the newest ``meta.occurred_at`` winning (an
older profile arriving late changes nothing); an order only fills fields still unknown.

After the sale, the figures are net (:meth:`CustomerState.apply_refund`, :meth:`~CustomerState.cancel`):

* A refund is kept on its order by ``refund_id``: the same refund again changes nothing. It must
  be in the order's shop currency (anything else is a permanent error, never converted). An
  order's revenue is its total minus its refunds, never below zero.
* A cancelled order no longer counts: it leaves ``ecombus_orders_count`` and contributes zero
  revenue, *whatever was refunded on it*, so a cancellation after a full refund (Shopify sends
  both for one cancel-and-refund) subtracts nothing twice, in either order. Its currency's
  property stays (at ``0`` if nothing else is left), so the CRM's old value is overwritten.
* The contact records the last refund (latest ``refunded_at``, then ``refund_id``), also on a
  cancelled order: ``ecombus_last_refund_at``, ``ecombus_last_refund_amount`` (shop currency,
  exact), ``ecombus_last_refund_currency``, ``ecombus_last_refund_order_id``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from bus.contracts import models as m
from bus.errors import InvalidInput

T = TypeVar("T")


def contact_key(email: str) -> str:
    """The CRM identity of an email: trimmed and lower-cased."""
    return email.strip().lower()


@dataclass(frozen=True)
class Refund:
    """Money given back on a counted order, in the order's shop currency."""

    refund_id: str
    amount: Decimal
    refunded_at: datetime


@dataclass
class CountedOrder:
    """One order in a customer's lifetime figures, with what came after the sale."""

    order_id: str
    currency: str
    total: Decimal
    placed_at: datetime
    cancelled: bool = False
    refunds: dict[str, Refund] = field(default_factory=dict)

    def revenue(self) -> Decimal:
        """What the order still brings: zero when cancelled, else its total net of refunds (>= 0)."""
        if self.cancelled:
            return Decimal(0)
        refunded = sum((r.amount for r in self.refunds.values()), Decimal(0))
        return max(Decimal(0), self.total - refunded)


@dataclass
class CustomerState:
    """What crm-updater knows about one customer."""

    customer_key: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    address: m.Address | None = None
    accepts_marketing: bool | None = None
    locale: str | None = None
    profile_at: datetime | None = None
    orders: dict[str, CountedOrder] = field(default_factory=dict)

    def count_order(self, order: m.OrderPlaced) -> bool:
        """Add the order to the lifetime figures; False when it was already counted."""
        if order.order_id in self.orders:
            return False
        total = order.totals.total.shop
        self.orders[order.order_id] = CountedOrder(order.order_id, total.currency, total.amount,
                                                   order.placed_at)
        customer = order.customer
        self.first_name = self.first_name or customer.first_name
        self.last_name = self.last_name or customer.last_name
        self.phone = self.phone or customer.phone
        self.address = self.address or order.billing_address or order.shipping_address
        return True

    def apply_refund(self, refund: m.OrderRefunded) -> bool:
        """Net the refund from its order (counted here); False when this refund was already taken.

        Raises:
            InvalidInput: the refund is not in the order's shop currency.
        """
        order = self.orders[refund.order_id]
        if refund.refund_id in order.refunds:
            return False
        money = refund.total.shop
        if money.currency != order.currency:
            raise InvalidInput(f"refund {refund.refund_id} is in {money.currency}, its order "
                               f"{refund.order_id} in {order.currency}", field="total.shop.currency")
        order.refunds[refund.refund_id] = Refund(refund.refund_id, money.amount, refund.refunded_at)
        return True

    def cancel(self, order_id: str) -> bool:
        """Take the order (counted here) out of the figures; False when it already was."""
        order = self.orders[order_id]
        if order.cancelled:
            return False
        order.cancelled = True
        return True

    def last_refund(self) -> tuple[CountedOrder, Refund] | None:
        """The latest refund over every order (by ``refunded_at``, then ``refund_id``), with its order."""
        refunds = [(o, r) for o in self.orders.values() for r in o.refunds.values()]
        return max(refunds, key=lambda pair: (pair[1].refunded_at, pair[1].refund_id), default=None)

    def apply_profile(self, event: m.CustomerUpserted) -> bool:
        """Take the profile's fields unless a newer profile was applied; True if anything changed."""
        occurred_at = event.meta.occurred_at
        if self.profile_at is not None and occurred_at < self.profile_at:
            return False
        before = self.contact_properties()
        customer = event.customer
        self.email = customer.email or self.email
        self.first_name = _newer(customer.first_name, self.first_name)
        self.last_name = _newer(customer.last_name, self.last_name)
        self.phone = _newer(customer.phone, self.phone)
        self.address = event.default_address or self.address
        self.accepts_marketing = _newer(event.accepts_marketing, self.accepts_marketing)
        self.locale = _newer(event.locale, self.locale)
        self.profile_at = occurred_at
        return self.contact_properties() != before

    def lifetime_spend(self) -> dict[str, Decimal]:
        """Revenue per currency code, net of refunds and cancellations (see the module docstring)."""
        spend: dict[str, Decimal] = {}
        for order in self.orders.values():
            spend[order.currency] = spend.get(order.currency, Decimal(0)) + order.revenue()
        return spend

    def contact_properties(self) -> dict[str, str]:
        """The HubSpot contact properties (every value a string)."""
        counted = sum(1 for order in self.orders.values() if not order.cancelled)
        props = {"email": self.email, "ecombus_orders_count": str(counted)}
        optional: dict[str, str | None] = {
            "firstname": self.first_name, "lastname": self.last_name, "phone": self.phone,
            "hs_language": self.locale,
        }
        if self.address is not None:
            line = " ".join(p for p in (self.address.line1, self.address.line2) if p)
            optional.update(address=line, city=self.address.city, state=self.address.province,
                            zip=self.address.postal_code, country=self.address.country_code)
        if self.accepts_marketing is not None:
            optional["ecombus_accepts_marketing"] = "true" if self.accepts_marketing else "false"
        props.update({k: v for k, v in optional.items() if v is not None})
        for currency, amount in sorted(self.lifetime_spend().items()):
            props[f"ecombus_lifetime_spend_{currency.lower()}"] = _exact(amount)
        if self.orders:
            last = max(self.orders.values(), key=lambda o: (o.placed_at, o.order_id))
            props["ecombus_last_order_id"] = last.order_id
            props["ecombus_last_order_at"] = last.placed_at.isoformat()
        refunded = self.last_refund()
        if refunded is not None:
            order, refund = refunded
            props.update(ecombus_last_refund_at=refund.refunded_at.isoformat(),
                         ecombus_last_refund_amount=_exact(refund.amount),
                         ecombus_last_refund_currency=order.currency,
                         ecombus_last_refund_order_id=order.order_id)
        return props


def _newer(value: T | None, current: T | None) -> T | None:
    return current if value is None else value


def _exact(amount: Decimal) -> str:
    """An amount as the CRM shows it: no exponent, no trailing zeros (``12.345``, ``5400``, ``0``)."""
    return format(amount.normalize(), "f")


class CustomerBook:
    """Every customer's state, by customer key; ``lock`` guards reads from other threads."""

    def __init__(self) -> None:
        self._states: dict[str, CustomerState] = {}
        self._owners: dict[str, str] = {}
        self.lock = threading.RLock()

    def get(self, key: str) -> CustomerState | None:
        return self._states.get(key)

    def owner(self, order_id: str) -> CustomerState | None:
        """The customer whose figures count this order, or None for an order never counted."""
        key = self._owners.get(order_id)
        return self._states.get(key) if key is not None else None

    def counted(self, state: CustomerState, order_id: str) -> None:
        """Remember that ``state`` counts ``order_id`` (so its refunds find their customer)."""
        self._owners[order_id] = state.customer_key

    def for_email(self, email: str) -> CustomerState:
        """The state of this email's customer, created empty on first sight."""
        key = contact_key(email)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = CustomerState(key, email)
        return state

    def put(self, state: CustomerState) -> None:
        self._states[state.customer_key] = state
        for order_id in state.orders:
            self._owners[order_id] = state.customer_key

    def __len__(self) -> int:
        return len(self._states)
