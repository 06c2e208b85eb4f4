"""Reading fields of a platform's JSON payload; InvalidInput (400 at the edge) names the field.

Platforms send absent, null and empty fields interchangeably; these helpers treat them alike and
keep every present value exactly as sent (text is never normalised here). A present value of the
wrong JSON type is refused, never coerced: an id must be an integer within 64 bits, a quantity a
positive integer, an object an object. Errors name the field, the JSON type found and the type
expected, and never echo the value (it may be personal data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

from bus.errors import InvalidInput

MAX_ID = 2**63 - 1
"""The largest platform id: ids are signed 64-bit integers on every platform we read."""
MAX_QUANTITY = 2**31 - 1
"""The largest quantity: a line's quantity is an Avro ``int`` on the bus."""


def json_type(value: Any) -> str:
    """The JSON type of a parsed value (``object``, ``array``, ``string``...), for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float | Decimal):
        return "number with a fraction"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, Sequence):
        return "array"
    return type(value).__name__


def _wrong(what: str, value: Any, expected: str) -> InvalidInput:
    return InvalidInput(f"{what} is a JSON {json_type(value)}, expected {expected}", field=what)


def mapping(value: Any, what: str | None = None) -> Mapping[str, Any]:
    """``value`` when it is a JSON object; an empty one when it is absent (null, "" or missing).

    Raises:
        InvalidInput: ``what`` is given and ``value`` is present but not an object (without
            ``what``, any other value also reads as an empty object).
    """
    if isinstance(value, Mapping):
        return value
    if what is not None and value is not None and value != "":
        raise _wrong(what, value, "an object")
    return {}


def array(value: Any, what: str) -> list[Any]:
    """``value`` when it is a JSON array; an empty one when absent (null, "" or missing).

    Raises:
        InvalidInput: ``value`` is present but not an array.
    """
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise _wrong(what, value, "an array")
    return value


def objects(value: Any, what: str) -> list[Mapping[str, Any]]:
    """A JSON array of objects (line items); empty when absent.

    Raises:
        InvalidInput: ``value`` is present but not an array, or an element is not an object.
    """
    items = array(value, what)
    for item in items:
        if not isinstance(item, Mapping):
            raise _wrong(f"an element of {what}", item, "an object")
    return items


def integer(value: Any, what: str, *, minimum: int, maximum: int) -> int:
    """A JSON integer within ``[minimum, maximum]``; never a boolean, a fraction or text.

    Raises:
        InvalidInput: not an integer, or out of range (the message names ``what`` and the range).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(what, value, f"an integer from {minimum} to {maximum}")
    if not minimum <= value <= maximum:
        raise InvalidInput(f"{what} is out of range, expected an integer from {minimum} to {maximum}",
                           field=what)
    return value


def platform_id(value: Any, what: str) -> int:
    """A platform's numeric id (order, line item, customer): a positive integer within 64 bits.

    Shopify, WooCommerce and BigCommerce document their ids as integers; an object, array,
    boolean, fraction, text or an integer beyond 64 bits is refused, never turned into text.

    Raises:
        InvalidInput: missing, or not a positive 64-bit integer (the message names ``what``).
    """
    if value is None or value == "":
        raise InvalidInput(f"{what} is missing", field=what)
    return integer(value, what, minimum=1, maximum=MAX_ID)


def optional_id(value: Any, what: str) -> str | None:
    """An optional platform id as text: None when absent or 0 (WooCommerce's and BigCommerce's
    guest customer), else :func:`platform_id`'s checks.

    Raises:
        InvalidInput: present and not a non-negative 64-bit integer.
    """
    if value is None or value == "" or (type(value) is int and value == 0):
        return None
    return str(platform_id(value, what))


def quantity(value: Any, what: str) -> int:
    """A line's quantity: a positive integer (1.5, -3, 0, ``true`` or ``"2"`` are refused, never
    truncated).

    Raises:
        InvalidInput: missing, or not an integer from 1 to :data:`MAX_QUANTITY`.
    """
    if value is None or value == "":
        raise InvalidInput(f"{what} is missing", field=what)
    return integer(value, what, minimum=1, maximum=MAX_QUANTITY)


def required(data: Mapping[str, Any], key: str, what: str) -> Any:
    """``data[key]``, or InvalidInput naming the missing field (``what`` says whose it is)."""
    value = data.get(key) if isinstance(data, Mapping) else None
    if value is None or value == "":
        raise InvalidInput(f"{what} has no {key}", field=key)
    return value


def text(value: Any, what: str | None = None) -> str | None:
    """A string as sent; None for null or empty; numbers (ids) as their decimal text.

    Raises:
        InvalidInput: ``value`` is neither text nor an integer (the message names ``what`` and
            the JSON type found).
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _wrong(what or "a text field", value, "text")
    return str(value)


def utc(value: Any, what: str) -> datetime:
    """An ISO 8601 or RFC 2822 timestamp, or epoch seconds, as an aware UTC datetime.

    A timestamp without an offset is taken as UTC (WooCommerce ``*_gmt`` fields). Whatever does not
    name an instant between 0001-01-01 and 9999-12-31 UTC (epoch seconds of 10**20, an offset that
    carries 9999-12-31 past the last representable day) is refused like any other non-timestamp.

    Raises:
        InvalidInput: ``value`` is no timestamp, or one out of range (the message names ``what``,
            never the value).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidInput(f"{what} is out of range for epoch seconds", field=what) from None
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{what} is not a timestamp", field=what)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, OverflowError):
            raise InvalidInput(f"{what} is not a timestamp", field=what) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidInput(f"{what} is out of range once in UTC", field=what) from None
