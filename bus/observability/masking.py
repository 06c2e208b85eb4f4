"""Masking of personal data before it reaches a log line.

This is the second line of defence: messages name fields, never values (:mod:`bus.errors`), so
personal data should not reach a log line at all. What is masked, and how:

* e-mail addresses in any text, internationalised ones included (``花子@例え.jp``): the local part
  is masked, keeping its first character only when that is an ASCII letter or digit,
  ``jane.doe@example.com`` → ``j***@example.com``, ``花子@例え.jp`` → ``***@例え.jp`` (the domain
  helps debugging, the person not).
* phone numbers in any text: every digit but the last two becomes ``*`` and separators stay,
  ``090-1234-5678`` → ``***-****-**78``. A phone number is 9-15 digits (full-width ones too) that
  starts with ``+``, or is split into at least three groups by spaces, dashes (ASCII, Unicode or
  full-width), dots or parentheses, or is a bare national number (``0`` then a non-zero digit,
  10-11 digits: ``09012345678``) or a bare international one (``00`` then 10-13 digits). Any
  other bare run of digits (an order id, an offset, epoch milliseconds) and ISO dates are left
  alone.
* street addresses in free text, where their shape gives them away: a Japanese block address
  (``神宮前1丁目2-3``, ``…番地``), a Japanese block number in Latin script (``1-2-3 Jingumae``),
  a number before a street word (``7 Rue de Rivoli``, ``12 Quay St``) or a street word before a
  number (``Hauptstraße 5``) → ``***``. Others cannot be recognised reliably.
* values of fields named like personal data, wherever they sit in nested dicts and lists:
  ``*email*`` → e-mail mask, ``*phone*``/``*mobile*``/``tel``/``fax`` → phone mask,
  street addresses (``address1``, ``address_line2``, ``street``, ``street_1``, ``line1``,
  ``*address`` with a string value) and personal names (``first_name``, ``last_name``,
  ``full_name``, ``customer_name``…, ``company``) → ``***``. Names cannot be recognised in free
  text, so code must pass them as such fields, never inside a message.

Anything else, including Japanese or Chinese names of products and places, is left intact.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "***"

_EMAIL = re.compile(r"(?<![\w.%+-])([\w.%+-]+)@([\w-]+(?:\.[\w-]+)+)")
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d"
_PHONE = re.compile(rf"(?<![\w+./-])(\+?[(\uff08]?\d[\d ().{_DASHES}\uff08\uff09\u3000-]*\d)(?![\w:/]|\.\d)")
_SEPARATORS = re.compile(rf"[ ().{_DASHES}\uff08\uff09\u3000-]+")
_BARE_PHONE = re.compile(r"0[1-9]\d{8,9}|00[1-9]\d{9,12}")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")

_STREET_WORDS_BEFORE = (r"rue|avenue|av\.|boulevard|bd|chemin|place|all[ée]e|impasse|quai|via|viale|"
                        r"piazza|calle|avenida|rua|plaza")
_PARTICLES = r"(?:de|du|des|la|le|les|l'|d'|di|del|della|da|do|dos|das|von|van)\b"
_STREET_WORDS_AFTER = (r"street|st|road|rd|avenue|ave|lane|ln|drive|dr|boulevard|blvd|way|court|ct|"
                       r"place|pl|terrace|quay|close|crescent|square|sq")
_FREE_ADDRESS = re.compile(
    "|".join((
        r"[\w\u2212\uff0d-]*\d+\s*(?:丁目|番地|番町)[\w\u2212\uff0d-]*",          # 神宮前1丁目2-3
        r"(?<![\w-])\d{1,2}-\d{1,3}-\d{1,3}\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?",     # 1-2-3 Jingumae Shibuya
        rf"\b\d{{1,5}}[a-zA-Z]?,?\s+(?:{_STREET_WORDS_BEFORE})(?:\s+{_PARTICLES})*"   # 7 Rue de Rivoli
        r"\s+\w(?:[\w'\u2019-]*\w)?",
        rf"\b\d{{1,5}}[a-zA-Z]?\s+(?:[A-Z][\w'\u2019-]*\s+){{1,3}}"                 # 12 Quay St
        rf"(?:{_STREET_WORDS_AFTER})\b\.?",
        r"\b[\w-]*(?:straße|strasse|str\.|weg|gasse|allee|platz|damm|ufer|laan|straat|gade|vej|"
        r"gatan|vägen)\s+\d{1,5}[a-zA-Z]?\b",                                     # Hauptstraße 5
    )),
    re.IGNORECASE,
)

_ADDRESS_KEY = re.compile(r"^(address(_?line)?_?\d|street(_?address)?(_?\d)?|line_?\d|.*address)$")
_NAME_KEY = re.compile(r"^((first|last|given|family|full|middle|sur|customer|contact|billing|shipping|"
                       r"recipient|display|person)_?name|name_?(first|last)|surname|company)$")


def _masked_email(match: re.Match[str]) -> str:
    first = match.group(1)[0]
    kept = first if first.isascii() and first.isalnum() else ""
    return f"{kept}{REDACTED}@{match.group(2)}"


def mask_email(text: str) -> str:
    """Mask every e-mail address in ``text``, internationalised ones included."""
    return _EMAIL.sub(_masked_email, text)


def _looks_like_phone(candidate: str) -> bool:
    digits = sum(ch.isdigit() for ch in candidate)
    if not 9 <= digits <= 15 or _ISO_DATE.match(candidate):
        return False
    groups = [g for g in _SEPARATORS.split(candidate.lstrip("+")) if g]
    if candidate.startswith("+") or len(groups) >= 3:
        return True
    return len(groups) == 1 and candidate.isascii() and _BARE_PHONE.fullmatch(candidate) is not None


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


def mask_address(text: str) -> str:
    """Replace every street address recognisable in ``text`` by ``***`` (see the module docstring)."""
    return _FREE_ADDRESS.sub(REDACTED, text)


def mask_text(text: str) -> str:
    """Mask e-mail addresses, phone numbers and recognisable street addresses in free text."""
    return mask_address(mask_phone(mask_email(text)))


def mask_field(key: str, value: Any) -> Any:
    """Mask ``value`` according to the field name ``key``, then recurse into containers."""
    name = key.lower()
    if isinstance(value, str):
        if "email" in name:
            masked = mask_email(value)
            return masked if masked != value else REDACTED
        if "phone" in name or "mobile" in name or name in ("tel", "fax"):
            return _star_digits(value) if any(ch.isdigit() for ch in value) else REDACTED
        if _ADDRESS_KEY.match(name) or _NAME_KEY.match(name):
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
