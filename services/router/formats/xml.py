"""XML records: parse untrusted documents with defusedxml, write records as elements.

:func:`read_records` returns one dict per record element (children of the root, or elements
named ``record``): child elements become fields (text, or nested dicts), attributes become
``@name`` fields. Entity expansion, external entities and DTD tricks are refused by defusedxml;
a document nested deeper than :data:`MAX_DEPTH` elements is refused while it is parsed (before
any tree is built past that depth); every reading failure is a :class:`~bus.errors.FormatError`.

:func:`render_record` writes a dict as ``<record><field>text</field>...</record>``. Text and
attribute values may hold any string: characters XML 1.0 does not allow (C0 controls other than
tab, line feed and carriage return, such as ``\x0b`` or ``\x1b``; lone surrogates; U+FFFE and
U+FFFF) are replaced by U+FFFD, the Unicode replacement character (:func:`xml_safe`), so every
document written parses again. The cXML writer does the same (:func:`clean_tree`).
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element, SubElement, TreeBuilder, tostring

from defusedxml import ElementTree as SafeTree
from defusedxml.common import DefusedXmlException

from bus.errors import FormatError

MAX_DEPTH = 64
"""The deepest element nesting read (the root is level 1)."""

_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
REPLACEMENT = "\ufffd"
"""What a character XML 1.0 does not allow is written as."""


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 does not allow replaced by U+FFFD."""
    return _ILLEGAL.sub(REPLACEMENT, text)


def clean_tree(root: Element) -> Element:
    """Make every text, tail and attribute value of ``root``'s tree XML-safe, in place."""
    for element in root.iter():
        if element.text:
            element.text = xml_safe(element.text)
        if element.tail:
            element.tail = xml_safe(element.tail)
        for name, value in element.attrib.items():
            element.attrib[name] = xml_safe(value)
    return root


class _TooDeep(Exception):
    """Internal: raised by the tree builder when the nesting passes the limit."""


class _BoundedBuilder(TreeBuilder):
    """A tree builder that stops the parse as soon as the nesting passes :data:`MAX_DEPTH`."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0

    def start(self, tag: Any, attrs: Any) -> Element:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _TooDeep()
        return super().start(tag, attrs)

    def end(self, tag: Any) -> Element:
        self.depth -= 1
        return super().end(tag)


def parse(data: bytes) -> Element:
    """Parse an untrusted document (defusedxml), at most :data:`MAX_DEPTH` elements deep.

    Raises:
        FormatError: unsafe (entities, DTD tricks), nested too deep (the limit named), or not
            well-formed (line and column named).
    """
    parser = SafeTree.DefusedXMLParser(target=_BoundedBuilder())
    try:
        parser.feed(data)
        root: Element = parser.close()
        return root
    except _TooDeep:
        raise FormatError(f"XML nested deeper than {MAX_DEPTH} levels") from None
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
                element.set(key[1:], "" if item is None else xml_safe(str(item)))
            elif key == "#text":
                element.text = "" if item is None else xml_safe(str(item))
            elif isinstance(item, list):
                for each in item:
                    dict_to_element(key, each, element)
            else:
                dict_to_element(key, item, element)
    elif value is not None:
        element.text = xml_safe(str(value))
    return element


def render_record(tag: str, value: Any) -> str:
    """One record element as UTF-8 text (no XML declaration)."""
    return tostring(dict_to_element(tag, value), encoding="unicode")
