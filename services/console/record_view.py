"""A record as a person with a given role may see it: decoded, as readable JSON, personal data masked
for viewers.

Values are shown exactly where JSON has no type: decimals and timestamps as strings
(``"17.8000"``, ``"2026-01-02T03:04:05.000Z"``), text as written. A ``bytes`` field (a raw
delivery's body) is shown as its text when it is UTF-8, as base64 otherwise.

Viewers see every value through :func:`bus.observability.masking.mask_field` (by field name, and
e-mails, phone numbers and street addresses in any text), keys and headers too. Text holding a JSON
document (a webhook body) is masked field by field. Bytes that are not text are not shown to viewers
at all: base64 would only hide personal data from the masking, not from the reader.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from bus.observability.masking import mask_field, mask_text
from bus.serde.json_view import to_json
from services.console.topic_reader import Record

HIDDEN = "(not text: hidden from viewers)"


@dataclass(frozen=True)
class RecordView:
    """One record ready for the page: every text already masked as the reader's role requires.

    Attributes:
        kind: how the value was read (``avro``, ``json``, ``text``, ``bytes``, ``empty``).
        body: the value as pretty JSON, text, base64 or a note.
        problem: why a value that looked like Avro could not be decoded as such.
    """

    partition: int
    offset: int
    timestamp_ms: int | None
    key: str | None
    headers: list[tuple[str, str | None]]
    kind: str
    schema_id: int | None
    body: str
    problem: str | None


def view(record: Record, operator: bool) -> RecordView:
    """``record`` as an operator (everything) or a viewer (personal data masked) sees it."""
    decoded = record.value
    if decoded.kind in ("avro", "json"):
        body = json.dumps(shown(decoded.value, operator), indent=2, ensure_ascii=False)
    elif decoded.kind == "text":
        body = shown(decoded.value, operator)
    elif decoded.kind == "bytes":
        body = decoded.value if operator else HIDDEN
    else:
        body = "(empty value: a tombstone or a record without a value)"
    headers = [(name, None if raw is None else shown(raw, operator, name)) for name, raw in record.headers]
    return RecordView(record.partition, record.offset, record.timestamp_ms, _key(record.key, operator),
                      headers, decoded.kind, decoded.schema_id, body, decoded.problem)


def shown(value: Any, operator: bool, key: str = "") -> Any:
    """``value`` as JSON-ready data; for viewers masked by field name (``key``) and by pattern."""
    if isinstance(value, dict):
        return {str(k): shown(v, operator, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [shown(v, operator, key) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return _bytes(bytes(value), operator, key)
    if isinstance(value, str):
        return value if operator else _masked_text(value, key)
    if isinstance(value, bool | int | float) or value is None:
        return value
    try:  # Decimal, datetime, date, UUID, Enum: as ``ecombus tail`` shows them
        return json.loads(to_json(value))
    except TypeError:
        return shown(str(value), operator, key)


def _bytes(data: bytes, operator: bool, key: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii") if operator else HIDDEN
    return text if operator else _masked_text(text, key)


def _masked_text(text: str, key: str) -> str:
    """A viewer's view of text: a JSON document masked field by field, other text by name and pattern."""
    if text[:1] in ("{", "["):
        try:
            document = json.loads(text)
        except ValueError:
            pass
        else:
            return json.dumps(shown(document, False), ensure_ascii=False)
    masked = mask_field(key, text) if key else mask_text(text)
    return str(masked)


def _key(key: str | None, operator: bool) -> str | None:
    if key is None or operator:
        return key
    return HIDDEN if key.startswith("base64:") else mask_text(key)
