"""What every platform's order becomes on the bus: ids, times, addresses, the customer profile.

Ids on the bus are ``<platform>:<system>:<platform id>`` (the OrderPlaced schema's docs), so two
shops on two platforms never collide. Text is kept exactly as sent (full-width digits, U+2212
minus signs, umlauts); only empty strings become null.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from bus.contracts import models as m
from bus.webhooks.errors import MalformedBody


def bus_id(platform: str, system: str, platform_id: Any) -> str:
    """``shopify:hanako-tea.myshopify.com:6120004415``."""
    return f"{platform}:{system}:{platform_id}"


def text(value: Any) -> str | None:
    """A string as sent; None for null or empty; numbers (ids) as their decimal text."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedBody(f"expected text, got {type(value).__name__} {value!r}")
    return str(value)


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty one (absent optional objects)."""
    return value if isinstance(value, Mapping) else {}


def required(data: Mapping[str, Any], key: str, what: str) -> Any:
    """``data[key]``, or MalformedBody naming the missing field."""
    value = data.get(key) if isinstance(data, Mapping) else None
    if value is None or value == "":
        raise MalformedBody(f"{what} has no {key}")
    return value


def utc(value: Any, what: str, *, naive_is_utc: bool = True) -> datetime:
    """An ISO 8601 or RFC 2822 timestamp as an aware UTC datetime.

    Args:
        naive_is_utc: a timestamp without offset is UTC (WooCommerce ``*_gmt`` fields).
    """
    if not isinstance(value, str) or not value:
        raise MalformedBody(f"{what} is not a timestamp: {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            raise MalformedBody(f"{what} is not a timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        if not naive_is_utc:
            raise MalformedBody(f"{what} has no UTC offset: {value!r}")
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def address(data: Any, *, line1: str, line2: str, city: str, province: str, postal_code: str,
            country: str, phone: str = "phone") -> m.Address | None:
    """An Address from a platform's address object, given its field names; None when absent."""
    if not isinstance(data, Mapping) or not any(data.get(k) for k in (line1, city, country)):
        return None
    return m.Address(first_name=text(data.get("first_name")), last_name=text(data.get("last_name")),
                     company=text(data.get("company")), line1=text(data.get(line1)) or "",
                     line2=text(data.get(line2)), city=text(data.get(city)) or "",
                     province=text(data.get(province)), postal_code=text(data.get(postal_code)),
                     country_code=text(data.get(country)) or "", phone=text(data.get(phone)))


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
