"""Masking of personal data before it reaches a log line.

What is masked, and how:

* e-mail addresses in any text: the first character of the local part is kept,
  ``jane.doe@example.com`` → ``j***@example.com`` (the domain helps debugging, the person not).
* phone numbers in any text: every digit but the last two becomes ``*`` and separators stay,
  ``090-1234-5678`` → ``***-****-**78``. A phone number is 9-15 digits that either starts with
  ``+`` or is split into at least three groups by spaces, dashes, dots or parentheses; a bare run
  of digits (an order id, an offset) and ISO dates are left alone.
* values of fields named like personal data, wherever they sit in nested dicts and lists:
  ``*email*`` → e-mail mask, ``*phone*``/``*mobile*``/``tel``/``fax`` → phone mask,
  street addresses (``address1``, ``address_line2``, ``street``, ``line1``, ``*address`` with a
  string value) → ``***``. Street addresses cannot be recognised reliably in free text, so code
  must pass them as such fields, never inside a message.

Anything else, including Japanese or Chinese names of products and places, is left intact.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "***"

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
)
_PHONE = re.compile(r"(?<![\w+./-])(\+?\(?\d[\d ().-]*\d)(?![\w:/]|\.\d)")
_SEPARATORS = re.compile(r"[ ().-]+")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")

_ADDRESS_KEY = re.compile(r"^(address(_?line)?_?\d|street(_?address)?|line_?\d|.*address)$")


def mask_email(text: str) -> str:
    """Mask every e-mail address in ``text``."""
    return _EMAIL.sub(lambda m: f"{m.group(1)}{REDACTED}@{m.group(2)}", text)


def _looks_like_phone(candidate: str) -> bool:
    digits = sum(ch.isdigit() for ch in candidate)
    if not 9 <= digits <= 15 or _ISO_DATE.match(candidate):
        return False
    groups = [g for g in _SEPARATORS.split(candidate.lstrip("+")) if g]
    return candidate.startswith("+") or len(groups) >= 3


def _star_digits(candidate: str) -> str:
    total = sum(ch.isdigit() for ch in candidate)
    seen = 0
    out = []
    for ch in candidate:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > total - 2 else "*")
        else:
            out.append(ch)
    return "".join(out)


def mask_phone(text: str) -> str:
    """Mask every phone number in ``text`` (see the module docstring for what counts as one)."""
    def replace(match: re.Match[str]) -> str:
        candidate = match.group(1)
        return _star_digits(candidate) if _looks_like_phone(candidate) else candidate

    return _PHONE.sub(replace, text)


def mask_text(text: str) -> str:
    """Mask e-mail addresses and phone numbers in free text."""
    return mask_phone(mask_email(text))


def mask_field(key: str, value: Any) -> Any:
    """Mask ``value`` according to the field name ``key``, then recurse into containers."""
    name = key.lower()
    if isinstance(value, str):
        if "email" in name:
            masked = mask_email(value)
            return masked if masked != value else REDACTED
        if "phone" in name or "mobile" in name or name in ("tel", "fax"):
            return _star_digits(value) if any(ch.isdigit() for ch in value) else REDACTED
        if _ADDRESS_KEY.match(name):
            return REDACTED
        return mask_text(value)
    return mask_value(value)


def mask_value(value: Any) -> Any:
    """Mask personal data anywhere in a JSON-like value (dicts by key, strings by pattern)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_field(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(v) for v in value]
    return value
