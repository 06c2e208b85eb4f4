"""XML records: parse untrusted documents with defusedxml, write records as elements.

:func:`read_records` returns one dict per record element (children of the root, or elements
named ``record``): child elements become fields (text, or nested dicts), attributes become
``@name`` fields. Entity expansion, external entities and DTD tricks are refused by defusedxml;
every reading failure is a :class:`~bus.errors.FormatError`.
:func:`render_record` writes a dict as ``<record><field>text</field>...</record>``.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from defusedxml import ElementTree as SafeTree
from defusedxml.common import DefusedXmlException

from bus.errors import FormatError


def parse(data: bytes) -> Element:
    """Parse an untrusted document (defusedxml).

    Raises:
        FormatError: unsafe (entities, DTD tricks) or not well-formed (line and column named).
    """
    try:
        return SafeTree.fromstring(data)
    except DefusedXmlException as exc:
        raise FormatError(f"refused unsafe XML: {type(exc).__name__}") from exc
    except SafeTree.ParseError as exc:
        raise FormatError(f"not well-formed XML: {exc}") from exc


def element_to_dict(element: Element) -> Any:
    """Children as fields (repeated tags become lists), attributes as ``@name``; leaves as text."""
    children = list(element)
    if not children and not element.attrib:
        return element.text or ""
    out: dict[str, Any] = {f"@{k}": v for k, v in element.attrib.items()}
    for child in children:
        value = element_to_dict(child)
        if child.tag in out:
            existing = out[child.tag]
            out[child.tag] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            out[child.tag] = value
    if not children and element.text and element.text.strip():
        out["#text"] = element.text
    return out


def read_records(data: bytes, record: str | None = None) -> list[dict[str, Any]]:
    """Records of a document: elements named ``record``, or the root's children.

    Raises:
        FormatError: as :func:`parse`.
    """
    root = parse(data)
    elements = list(root.iter(record)) if record else list(root)
    return [r if isinstance(r, dict) else {"#text": r} for r in map(element_to_dict, elements)]


def dict_to_element(tag: str, value: Any, parent: Element | None = None) -> Element:
    """A value as an element: dicts become children (``@x`` attributes), lists repeat the tag."""
    element = Element(tag) if parent is None else SubElement(parent, tag)
    if isinstance(value, dict):
        for key, item in value.items():
            if key.startswith("@"):
                element.set(key[1:], "" if item is None else str(item))
            elif key == "#text":
                element.text = "" if item is None else str(item)
            elif isinstance(item, list):
                for each in item:
                    dict_to_element(key, each, element)
            else:
                dict_to_element(key, item, element)
    elif value is not None:
        element.text = str(value)
    return element


def render_record(tag: str, value: Any) -> str:
    """One record element as UTF-8 text (no XML declaration)."""
    return tostring(dict_to_element(tag, value), encoding="unicode")
