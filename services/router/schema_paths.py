"""Field paths against Avro schemas: what ``routes check`` verifies and what the router decodes.

A :class:`Shape` is what the router knows about a message body at a point of a route: the
record a source topic's schema describes, then whatever the steps make of it (``None`` means
unknown, and any path is accepted). :func:`check_path` names the first field a path gets wrong.

:func:`projected_schema` builds a *reader* schema holding only the fields a route reads, so
fastavro skips the rest of each record while decoding (Avro schema resolution: a reader may
drop writer fields). Named types keep their names; a type used at several places keeps the
union of the fields read at any of them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

Path = tuple[str, ...]
ITEM = "[]"
_WHOLE = "*"


@dataclass
class Shape:
    """A body's structure: a record's fields, a list's items, a map's values, or a scalar.

    Attributes:
        kind: ``record``, ``array``, ``map`` or the Avro type of a scalar (``string``, ``enum``...).
        name: the Avro full name of a named type, else the kind.
        fields: a record's fields (None: unknown).
        items: an array's items or a map's values (None: unknown).
    """

    kind: str
    name: str
    fields: dict[str, Shape | None] = field(default_factory=dict)
    items: Shape | None = None


def shape_of(schema: Any) -> Shape | None:
    """The shape an (expanded) Avro schema describes."""
    return _shape(schema, {}, "")


def _shape(schema: Any, names: dict[str, Shape], namespace: str) -> Shape | None:
    if isinstance(schema, str):
        full = schema if "." in schema or not namespace else f"{namespace}.{schema}"
        return names.get(full) or names.get(schema) or Shape(schema, schema)
    if isinstance(schema, list):
        options = [s for s in schema if s != "null"]
        return _shape(options[0], names, namespace) if len(options) == 1 else None
    kind = schema["type"]
    if kind in ("record", "error"):
        ns = schema.get("namespace", namespace)
        full = schema["name"] if "." in schema["name"] else f"{ns}.{schema['name']}".strip(".")
        shape = Shape("record", full)
        names[full] = shape
        for f in schema["fields"]:
            shape.fields[f["name"]] = _shape(f["type"], names, ns)
        return shape
    if kind == "array":
        return Shape("array", "array", items=_shape(schema["items"], names, namespace))
    if kind == "map":
        return Shape("map", "map", items=_shape(schema["values"], names, namespace))
    if kind in ("enum", "fixed"):
        ns = schema.get("namespace", namespace)
        full = f"{ns}.{schema['name']}".strip(".")
        names[full] = Shape(kind, full)
        return names[full]
    if isinstance(kind, dict | list):
        return _shape(kind, names, namespace)
    return Shape(kind, schema.get("logicalType", kind))


def check_path(shape: Shape | None, path: Path) -> str | None:
    """Why ``path`` cannot be read from ``shape``, naming the field; None when it can."""
    done: list[str] = []
    for part in path:
        if shape is None:
            return None
        where = ".".join(done) or "the body"
        if part == ITEM:
            if shape.kind not in ("array", "map"):
                return f"'{where}' is a {shape.name}, not a list"
            shape = shape.items
        elif shape.kind == "record":
            if part not in shape.fields:
                known = ", ".join(shape.fields)
                return f"field '{'.'.join([*done, part])}' does not exist: {where} " \
                       f"({shape.name.rsplit('.', 1)[-1]}) has {known}"
            shape = shape.fields[part]
        elif shape.kind == "map":
            shape = shape.items
        else:
            return f"field '{'.'.join([*done, part])}' does not exist: '{where}' is a {shape.name}"
        done.append(part)
    return None


def shape_at(shape: Shape | None, path: Path) -> Shape | None:
    """The shape found at ``path`` (None when unknown or not there)."""
    for part in path:
        if shape is None:
            return None
        shape = shape.items if part == ITEM or shape.kind == "map" else shape.fields.get(part)
    return shape


def with_field(shape: Shape | None, name: str, value: Shape | None) -> Shape | None:
    """``shape`` with one more (or a replaced) top-level field; unknown stays unknown."""
    if shape is None or shape.kind != "record":
        return None
    extended = Shape("record", shape.name, dict(shape.fields), shape.items)
    extended.fields[name] = value
    return extended


def record_of(names: list[str]) -> Shape:
    """A record with these top-level fields, each of unknown shape (a map step's output)."""
    return Shape("record", "mapped", dict.fromkeys(names))


def projected_schema(schema: dict[str, Any], paths: set[Path]) -> dict[str, Any]:
    """A reader schema with only the fields ``paths`` read (each path reads its whole end)."""
    needed: dict[str, set[str]] = {}
    names = _named_types(schema)
    for path in paths:
        _need(schema, path, names, needed, "")
    return _project(copy.deepcopy(schema), needed, set(), "", copy.deepcopy(names))


def _named_types(schema: Any, found: dict[str, Any] | None = None, namespace: str = "") -> dict[str, Any]:
    found = {} if found is None else found
    if isinstance(schema, list):
        for option in schema:
            _named_types(option, found, namespace)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "error", "enum", "fixed"):
            ns = schema.get("namespace", namespace)
            found[_full(schema["name"], ns)] = schema
            for f in schema.get("fields", []):
                _named_types(f["type"], found, ns)
        elif kind == "array":
            _named_types(schema["items"], found, namespace)
        elif kind == "map":
            _named_types(schema["values"], found, namespace)
        elif isinstance(kind, dict | list):
            _named_types(kind, found, namespace)
    return found


def _full(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _need(schema: Any, path: Path, names: dict[str, Any], needed: dict[str, set[str]], ns: str) -> None:
    """Mark in ``needed`` (type name → fields, or {'*'}) what reading ``path`` takes."""
    if isinstance(schema, str):
        target = names.get(_full(schema, ns)) or names.get(schema)
        if target is not None:
            _need(target, path, names, needed, ns)
        return
    if isinstance(schema, list):
        for option in schema:
            _need(option, path, names, needed, ns)
        return
    kind = schema.get("type")
    if kind in ("record", "error"):
        ns = schema.get("namespace", ns)
        wanted = needed.setdefault(_full(schema["name"], ns), set())
        if not path:
            wanted.add(_WHOLE)
            for f in schema["fields"]:
                _need(f["type"], (), names, needed, ns)
            return
        for f in schema["fields"]:
            if f["name"] == path[0]:
                wanted.add(f["name"])
                _need(f["type"], path[1:], names, needed, ns)
    elif kind in ("array", "map"):
        rest = path[1:] if path and path[0] == ITEM else path
        _need(schema["items" if kind == "array" else "values"], rest, names, needed, ns)
    elif isinstance(kind, dict | list):
        _need(kind, path, names, needed, ns)


def _project(schema: Any, needed: dict[str, set[str]], defined: set[str], ns: str,
             names: dict[str, Any]) -> Any:
    """The projected copy; a named type is defined where it is first kept, referred to after."""
    if isinstance(schema, str):
        full = _full(schema, ns) if _full(schema, ns) in names else schema
        if full in names and full not in defined:
            return _project(copy.deepcopy(names[full]), needed, defined, ns, names)
        return schema
    if isinstance(schema, list):
        return [_project(option, needed, defined, ns, names) for option in schema]
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    if kind in ("record", "error"):
        ns = schema.get("namespace", ns)
        full = _full(schema["name"], ns)
        if full in defined:
            return full
        defined.add(full)
        wanted = needed.get(full, set())
        fields = [f for f in schema["fields"] if _WHOLE in wanted or f["name"] in wanted]
        schema["fields"] = [{**f, "type": _project(f["type"], needed, defined, ns, names)}
                            for f in fields]
        return schema
    if kind in ("enum", "fixed"):
        full = _full(schema["name"], schema.get("namespace", ns))
        if full in defined:
            return full
        defined.add(full)
        return schema
    if kind == "array":
        return {**schema, "items": _project(schema["items"], needed, defined, ns, names)}
    if kind == "map":
        return {**schema, "values": _project(schema["values"], needed, defined, ns, names)}
    return schema
