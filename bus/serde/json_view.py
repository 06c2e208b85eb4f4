"""Decoded Avro values as JSON for people and scripts (``ecombus tail``, DLQ and trace views).

Exact and lossless where JSON has no type: decimals become strings (``"17.8000"``, never a
float), timestamps ISO 8601 in UTC with milliseconds (``"2025-06-03T01:12:43.000Z"``), bytes
base64; text stays Unicode (``ensure_ascii=False``), so Japanese names read as written.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any


def iso_timestamp(value: datetime) -> str:
    """ISO 8601 with milliseconds, in UTC with a ``Z`` (naive datetimes are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_from_millis(millis: int) -> str:
    """A Kafka record timestamp (milliseconds since the epoch) in ISO 8601."""
    return iso_timestamp(datetime.fromtimestamp(millis / 1000, UTC))


def text_or_base64(data: bytes | None) -> str | dict[str, str] | None:
    """UTF-8 text when the bytes are valid UTF-8, else ``{"base64": "..."}``."""
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return iso_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot show {type(value).__name__} as JSON")


def to_json(value: Any) -> str:
    """One JSON line for a decoded value (or any structure of dicts, lists and the above)."""
    return json.dumps(value, ensure_ascii=False, default=_default)
