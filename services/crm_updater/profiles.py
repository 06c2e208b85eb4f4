"""Customers as the CRM should see them: the latest profile plus lifetime figures, counted once.

A :class:`CustomerState` is keyed by the lower-cased email (HubSpot upserts contacts by email).
Lifetime figures are derived from the orders counted, kept by ``order_id``, so counting is
idempotent: a replayed or redelivered OrderPlaced finds its order already there and changes
nothing. Spend is summed per shop currency (``totals.total.shop``), exactly (Decimal).

Profile fields come from CustomerUpserted events, the newest ``meta.occurred_at`` winning (an
older profile arriving late changes nothing); an order only fills fields still unknown.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from bus.contracts import models as m

T = TypeVar("T")


def contact_key(email: str) -> str:
    """The CRM identity of an email: trimmed and lower-cased."""
    return email.strip().lower()


@dataclass(frozen=True)
class CountedOrder:
    """One order in a customer's lifetime figures."""

    order_id: str
    currency: str
    total: Decimal
    placed_at: datetime


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
        """Total spent per currency code, over the orders counted."""
        spend: dict[str, Decimal] = {}
        for order in self.orders.values():
            spend[order.currency] = spend.get(order.currency, Decimal(0)) + order.total
        return spend

    def contact_properties(self) -> dict[str, str]:
        """The HubSpot contact properties (every value a string)."""
        props = {"email": self.email, "ecombus_orders_count": str(len(self.orders))}
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
            props[f"ecombus_lifetime_spend_{currency.lower()}"] = format(amount.normalize(), "f")
        if self.orders:
            last = max(self.orders.values(), key=lambda o: (o.placed_at, o.order_id))
            props["ecombus_last_order_id"] = last.order_id
            props["ecombus_last_order_at"] = last.placed_at.isoformat()
        return props


def _newer(value: T | None, current: T | None) -> T | None:
    return current if value is None else value


class CustomerBook:
    """Every customer's state, by customer key; ``lock`` guards reads from other threads."""

    def __init__(self) -> None:
        self._states: dict[str, CustomerState] = {}
        self.lock = threading.RLock()

    def get(self, key: str) -> CustomerState | None:
        return self._states.get(key)

    def for_email(self, email: str) -> CustomerState:
        """The state of this email's customer, created empty on first sight."""
        key = contact_key(email)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = CustomerState(key, email)
        return state

    def put(self, state: CustomerState) -> None:
        self._states[state.customer_key] = state

    def __len__(self) -> int:
        return len(self._states)
