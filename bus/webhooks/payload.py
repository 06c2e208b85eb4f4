"""Reading fields of a platform's JSON payload; InvalidInput (400 at the edge) names the field.

Platforms send absent, null and empty fields interchangeably; these helpers treat them alike and
keep every present value exactly as sent (text is never normalised here). Errors name the
field and never echo its value (it may be personal data).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from bus.errors import InvalidInput


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty one (absent optional objects)."""
    return value if isinstance(value, Mapping) else {}


def required(data: Mapping[str, Any], key: str, what: str) -> Any:
    """``data[key]``, or InvalidInput naming the missing field."""
    value = data.get(key) if isinstance(data, Mapping) else None
    if value is None or value == "":
        raise InvalidInput(f"{what} has no {key}", field=key)
    return value


def text(value: Any, what: str | None = None) -> str | None:
    """A string as sent; None for null or empty; numbers (ids) as their decimal text.

    Raises:
        InvalidInput: ``value`` is neither text nor an integer (the message names ``what``).
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInput(f"{what or 'a field'} is a JSON {type(value).__name__}, expected text", field=what)
    return str(value)


def utc(value: Any, what: str) -> datetime:
    """An ISO 8601 or RFC 2822 timestamp, or epoch seconds, as an aware UTC datetime.

    A timestamp without an offset is taken as UTC (WooCommerce ``*_gmt`` fields).

    Raises:
        InvalidInput: ``value`` is no timestamp (the message names ``what``).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{what} is not a timestamp", field=what)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"{what} is not a timestamp", field=what) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
