"""What a topic page filters records on, and whether a viewer may ask for it.

Two filters, both exact: the record key, and one field of the decoded value, ``path=value``
(``status=DELIVERED``, ``customer.email=ana@example.com``, ``lines.sku=TEA-01``: a path through a
list matches when any element does). Numbers compare as numbers (``total=17.8`` finds
``17.8000``), timestamps as ISO 8601 (``2026-01-02T03:04:05.000Z``), ``true``/``false`` and
``null`` as themselves.

A viewer sees personal data masked; a filter on it would let them confirm a value by searching
("is ana@example.com a customer?"). :meth:`Filter.personal` says when a filter searches personal
data — a field named like one (e-mail, phone, name, address), or a searched value shaped like one
— so the page refuses it to viewers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bus.errors import InvalidInput
from bus.observability.masking import mask_field, mask_text
from bus.serde.json_view import iso_timestamp

_PATH = re.compile(r"[\w-]+(\.[\w-]+)*")
PERSONAL_FIELDS = ("email", "phone", "mobile", "address", "street")
"""Field names containing one of these are personal, wherever they sit (with ``name``, below)."""


@dataclass(frozen=True)
class Filter:
    """Which records a page shows: all, those with ``key``, those whose ``path`` holds ``value``."""

    key: str | None = None
    path: tuple[str, ...] = ()
    value: str = ""

    @classmethod
    def parse(cls, key: str | None, field: str | None) -> Filter:
        """The filter of the ``key`` and ``field`` query parameters (empty ones are no filter).

        Raises:
            InvalidInput: ``field`` is not ``path=value`` (the error names the parameter).
        """
        path: tuple[str, ...] = ()
        value = ""
        if field:
            name, equals, value = field.partition("=")
            if not equals or not _PATH.fullmatch(name.strip()):
                raise InvalidInput("field: expected path=value, e.g. status=DELIVERED or customer.email=...",
                                   field="field")
            path = tuple(name.strip().split("."))
        return cls(key or None, path, value)

    @property
    def empty(self) -> bool:
        return self.key is None and not self.path

    def matches_value(self, value: Any) -> bool:
        """True when there is no field filter or ``value`` holds the wanted value at the path."""
        return not self.path or any(_same(found, self.value) for found in values_at(value, self.path))

    def personal(self) -> str | None:
        """Why this filter searches personal data (refused to viewers), or None."""
        if self.key is not None and mask_text(self.key) != self.key:
            return "the key searched for looks like personal data (an e-mail, phone number or address)"
        if not self.path:
            return None
        leaf = self.path[-1].lower()
        named = leaf == "name" or any(word in part.lower() for part in self.path for word in PERSONAL_FIELDS)
        if named or mask_field(leaf, self.value) != self.value:
            return f"{'.'.join(self.path)} is personal data"
        if mask_text(self.value) != self.value:
            return "the value searched for looks like personal data (an e-mail, phone number or address)"
        return None

    def text(self) -> str:
        """The field filter as typed (``path=value``), empty without one."""
        return f"{'.'.join(self.path)}={self.value}" if self.path else ""


def values_at(value: Any, path: tuple[str, ...]) -> Iterator[Any]:
    """Every value at ``path`` in ``value``: dict keys by name, lists fanned out (or indexed by number)."""
    if not path:
        yield value
        return
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        if head in value:
            yield from values_at(value[head], rest)
    elif isinstance(value, list | tuple):
        if head.isdigit() and int(head) < len(value):
            yield from values_at(value[int(head)], rest)
        else:
            for item in value:
                yield from values_at(item, path)


def _same(found: Any, wanted: str) -> bool:
    if found is None:
        return wanted in ("null", "")
    if isinstance(found, bool):
        return wanted.lower() == str(found).lower()
    if isinstance(found, int | float | Decimal):
        try:
            return Decimal(wanted.strip()) == Decimal(str(found))
        except InvalidOperation:
            return False
    if isinstance(found, datetime):
        return wanted in (iso_timestamp(found), found.isoformat())
    if isinstance(found, date):
        return wanted == found.isoformat()
    if isinstance(found, bytes):
        return found == wanted.encode()
    if isinstance(found, dict | list | tuple):
        return False
    return str(found) == wanted
