"""What every platform's order becomes on the bus: ids, times, addresses, the customer profile.

Ids on the bus are ``<platform>:<system>:<platform id>`` (the OrderPlaced schema's docs), so two
shops on two platforms never collide. Text is kept exactly as sent (full-width digits, U+2212
minus signs, umlauts); only empty strings become null. A field of the wrong JSON type is
refused with :class:`~bus.errors.InvalidInput` naming it (:mod:`bus.webhooks.payload`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bus.contracts import models as m
from bus.webhooks.payload import mapping, text


def bus_id(platform: str, system: str, platform_id: Any) -> str:
    """``shopify:hanako-tea.myshopify.com:6120004415``."""
    return f"{platform}:{system}:{platform_id}"


def address(data: Any, what: str, *, line1: str, line2: str, city: str, province: str,
            postal_code: str, country: str, phone: str = "phone") -> m.Address | None:
    """An Address from the platform's address object ``what``, given its field names.

    Returns:
        None when the object is absent or has none of street, city and country.

    Raises:
        InvalidInput: ``what`` is present but not an object, or one of its fields is not text.
    """
    found: Mapping[str, Any] = mapping(data, what)
    if not any(found.get(k) for k in (line1, city, country)):
        return None

    def field(key: str) -> str | None:
        return text(found.get(key), f"{what}.{key}")

    return m.Address(first_name=field("first_name"), last_name=field("last_name"),
                     company=field("company"), line1=field(line1) or "", line2=field(line2),
                     city=field(city) or "", province=field(province), postal_code=field(postal_code),
                     country_code=field(country) or "", phone=field(phone))


def customer_upserted(order: m.OrderPlaced, event_id: str, *, default_address: m.Address | None = None,
                      accepts_marketing: bool | None = None,
                      locale: str | None = None) -> m.CustomerUpserted | None:
    """The profile of the order's customer (None for a guest with neither id nor email).

    The key is the lower-cased email when there is one, else ``<platform>:<system>:<id>``.
    """
    customer = order.customer
    if customer.email:
        key = customer.email.strip().lower()
    elif customer.customer_id:
        key = bus_id(order.meta.source.platform, order.meta.source.system, customer.customer_id)
    else:
        return None
    meta = m.Meta(event_id=event_id, occurred_at=order.meta.occurred_at, source=order.meta.source,
                  correlation_id=order.meta.correlation_id, causation_id=order.meta.event_id)
    return m.CustomerUpserted(meta=meta, customer_key=key, customer=customer,
                              default_address=default_address, accepts_marketing=accepts_marketing,
                              locale=locale)


def status_changed(order_id: str, status: m.OrderStatus, *, event_id: str, occurred_at: datetime,
                   source: m.Source, reason: str | None = None) -> m.OrderStatusChanged:
    """An OrderStatusChanged the storefront reported (previous status unknown to us)."""
    meta = m.Meta(event_id=event_id, occurred_at=occurred_at, source=source, correlation_id=order_id)
    return m.OrderStatusChanged(meta=meta, order_id=order_id, status=status, reason=reason)
