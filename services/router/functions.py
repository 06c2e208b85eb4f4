"""The functions route expressions may call, and nothing else (:data:`FUNCTIONS`).

Every function returns null for a null first argument (so optional fields flow through), keeps
money exact (Decimal in, Decimal or text out) and treats times as UTC. A value a function cannot
work on raises :class:`~bus.errors.ExpressionError` naming the function, never the value (it may
be personal data).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from bus.errors import ExpressionError
from services.router.money import format_money


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ExpressionError(f"decimal(): a {type(value).__name__} that is not a number") from exc


def _round(value: Any, places: int = 0) -> Any:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return round(value, places)


def _int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ExpressionError(f"int(): a {type(value).__name__} that is not an integer") from exc


def utc_time(value: Any) -> datetime | None:
    """A timezone-aware datetime from an ISO 8601 text, epoch millis or a datetime (naive = UTC).

    Raises:
        ValueError: the text is not an ISO 8601 time, or the time is outside what a datetime in
            UTC can hold (epoch millis of 10**20, ``9999-12-31T23:59:59-23:59``).
    """
    if value is None:
        return None
    try:
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value / 1000, UTC)
        else:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        if not parsed.tzinfo:
            return parsed.replace(tzinfo=UTC)
        parsed.astimezone(UTC)  # in range once in UTC, or OverflowError now rather than later
        return parsed
    except (OverflowError, OSError) as exc:
        raise ValueError("the time is out of range") from exc


def _timestamp(value: Any) -> datetime | None:
    try:
        return utc_time(value)
    except ValueError as exc:
        raise ExpressionError(f"timestamp(): a {type(value).__name__} that is not an ISO 8601 time") from exc


def _date(value: Any) -> str | None:
    """The UTC calendar date (YYYY-MM-DD) of a time."""
    stamp = _timestamp(value)
    return None if stamp is None else stamp.astimezone(UTC).date().isoformat()


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _concat(*parts: Any) -> str:
    return "".join("" if p is None else (_str(p) or "") for p in parts)


def _coalesce(*values: Any) -> Any:
    return next((v for v in values if v is not None and v != ""), None)


def _null_safe(fn: Callable[..., Any]) -> Callable[..., Any]:
    return lambda value, *args: None if value is None else fn(value, *args)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "upper": _null_safe(lambda s: str(s).upper()),
    "lower": _null_safe(lambda s: str(s).lower()),
    "strip": _null_safe(lambda s: str(s).strip()),
    "concat": _concat,
    "coalesce": _coalesce,
    "len": _null_safe(len),
    "str": _str,
    "int": _int,
    "decimal": _decimal,
    "round": _round,
    "money": format_money,
    "date": _date,
    "timestamp": _timestamp,
    "now": lambda: datetime.now(UTC),
    "replace": _null_safe(lambda s, old, new: str(s).replace(old, new)),
    "split": _null_safe(lambda s, sep: str(s).split(sep)),
    "join": _null_safe(lambda items, sep: sep.join(_str(i) or "" for i in items)),
    "get": lambda mapping, name, default=None: (mapping or {}).get(name, default),
}
"""The only callables an expression can reach. All return null for a null first argument."""
