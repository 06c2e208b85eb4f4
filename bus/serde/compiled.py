"""Avro decoding compiled to Python for one writer/reader schema pair.

fastavro interprets the schemas for every value it reads: it walks the writer schema node by node,
matches each node against the reader schema, and reads or skips it. For a projected reader (one
that keeps a few fields of a large writer schema, as the router's are) that interpretation costs
more than the bytes. :func:`compile_reader` does the walk once, when a schema pair is first seen,
and generates one straight-line Python function that reads the fields the reader keeps and
steps over the others.

Contract of the generated function ``decode(data, pos) -> (value, end)``: it reads one value of
the writer schema from ``data`` (``bytes``) starting at ``pos`` and returns the value as fastavro's
``schemaless_reader(writer, reader)`` would (same dicts, same logical-type conversions, done by
fastavro's own ``LOGICAL_READERS``) and the position after it. ``end > len(data)`` means the data
was truncated (the caller reports it); corrupt data raises ``IndexError``, ``ValueError``,
``struct.error`` or ``UnicodeDecodeError``.

Only pairs where the reader is a *projection* of the writer are compiled: every reader field
exists in the writer with the same type (same names, enum symbols, union branches in the same
order, decimal precision and scale). Anything that needs Avro schema resolution (defaults for
missing fields, type promotion, aliases, changed enums or unions) or a recursive type makes
:func:`compile_reader` return None, and the caller keeps using fastavro for that pair.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from fastavro.read import LOGICAL_READERS

Decode = Callable[[bytes, int], tuple[Any, int]]
Schema = Any

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


class Unsupported(Exception):
    """The pair needs schema resolution (or is recursive): leave it to fastavro."""


def _long(data: bytes, pos: int, first: int) -> tuple[int, int]:
    """The rest of a zig-zag varint whose first byte (``first`` ≥ 128) is already read."""
    value, shift = first & 0x7F, 7
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 128:
            if value >> 64:  # fastavro would wrap it around silently: it is corrupt
                raise ValueError("varint beyond 64 bits")
            return (value >> 1) ^ -(value & 1), pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _skip_varint(data: bytes, pos: int) -> int:
    """The position after the varint starting at ``pos``."""
    start = pos
    while data[pos] >= 128:
        pos += 1
        if pos - start > 9:
            raise ValueError("varint longer than 10 bytes")
    return pos + 1


def _length(data: bytes, pos: int) -> tuple[int, int]:
    """A bytes/string length (a varint at ``pos``) and the position after it; never negative."""
    first = data[pos]
    size, pos = _long(data, pos + 1, first) if first >= 128 else ((first >> 1) ^ -(first & 1), pos + 1)
    if size < 0:
        raise ValueError(f"length {size} out of range")
    return size, pos


def _bad(what: str, value: int) -> Any:
    raise ValueError(f"{what} {value} out of range")


_FLOAT = struct.Struct("<f").unpack_from
_DOUBLE = struct.Struct("<d").unpack_from


def compile_reader(writer: Schema, reader: Schema | None = None) -> Decode | None:
    """The compiled decoder of ``writer`` data read as ``reader`` (None: read as written).

    Both schemas are fastavro-parsed (``fastavro.parse_schema``). Returns None when the pair
    needs schema resolution (see the module docstring); fastavro then remains the decoder.
    """
    reader = writer if reader is None else reader
    gen = _Generator(_named(writer), _named(reader))
    try:
        result = gen.read(writer, reader, 1)
    except Unsupported:
        return None
    return gen.build(result)


class CodeWriter:
    """Generated Python, line by line, with its constants passed in as default arguments
    (locals, the fastest lookup); shared by the reader and writer generators."""

    def __init__(self, consts: dict[str, Any]) -> None:
        self.lines: list[str] = []
        self.consts = dict(consts)
        self.count = 0
        self.open_records: list[str] = []

    def function(self, name: str, params: str, result: str, filename: str) -> Any:
        """Compile ``def name(params): <lines>; return result`` (``.source`` holds the text)."""
        defaults = ", ".join(f"{const}={const}" for const in self.consts)
        source = "\n".join([f"def {name}({params}, {defaults}):", *self.lines, f"    return {result}"])
        namespace = dict(self.consts)
        exec(compile(source, filename, "exec"), namespace)  # generated from schemas only
        function = namespace[name]
        function.source = source
        return function

    def var(self, prefix: str = "v") -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def const(self, value: Any, prefix: str = "k") -> str:
        name = self.var(f"_{prefix}")
        self.consts[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


class _Generator(CodeWriter):
    """Writes the body of ``decode``; ``read``/``skip`` emit the code for one schema node."""

    def __init__(self, writer_names: dict[str, Any], reader_names: dict[str, Any]) -> None:
        super().__init__({"_long": _long, "_skip_varint": _skip_varint, "_bad": _bad, "_length": _length,
                          "_FLOAT": _FLOAT, "_DOUBLE": _DOUBLE})
        self.writer_names = writer_names
        self.reader_names = reader_names

    def build(self, result: str) -> Decode:
        decode: Decode = self.function("decode", "data, pos", f"{result}, pos", "<compiled avro reader>")
        return decode

    def long(self, depth: int, target: str) -> None:
        self.emit(depth, "b = data[pos]")
        self.emit(depth, "pos += 1")
        self.emit(depth, "if b < 128:")
        self.emit(depth + 1, f"{target} = (b >> 1) ^ -(b & 1)")
        self.emit(depth, "else:")
        self.emit(depth + 1, f"{target}, pos = _long(data, pos, b)")

    def length(self, depth: int, target: str) -> None:
        """A length: one byte holding an even value is the common case (under 64 bytes)."""
        self.emit(depth, "b = data[pos]")
        self.emit(depth, "if b < 128 and not b & 1:")
        self.emit(depth + 1, f"{target} = b >> 1")
        self.emit(depth + 1, "pos += 1")
        self.emit(depth, "else:")
        self.emit(depth + 1, f"{target}, pos = _length(data, pos)")

    def union_index(self, depth: int, branches: int) -> str:
        """The union's branch number as its raw byte: 0, 2, 4, ... (zig-zag, under 64 branches)."""
        if branches > 63:
            raise Unsupported("union of more than 63 branches")
        self.emit(depth, "b = data[pos]")
        self.emit(depth, "pos += 1")
        return "b"

    # -- reading ---------------------------------------------------------------------------

    def read(self, writer: Schema, reader: Schema, depth: int) -> str:
        """Emit code reading one ``writer`` value as ``reader``; return the expression holding it."""
        w = resolve(writer, self.writer_names)
        r = resolve(reader, self.reader_names)
        kind = _kind(w)
        if kind != _kind(r):
            raise Unsupported(f"{kind} read as {_kind(r)}")
        if kind == "union":
            return self.read_union(w, r, depth)
        if kind == "record":
            return self.read_record(w, r, depth)
        if kind in ("array", "map"):
            return self.read_container(w, r, depth)
        if _leaf_signature(w) != _leaf_signature(r):
            raise Unsupported(f"{kind} differs between writer and reader")
        value = self.read_leaf(w, depth)
        logical = _logical_key(w)
        if logical and logical in LOGICAL_READERS:
            fn = self.const(LOGICAL_READERS[logical], "logical")
            target = self.var()
            self.emit(depth, f"{target} = {fn}({value}, {self.const(w, 'w')}, {self.const(r, 'r')})")
            return target
        return value

    def read_leaf(self, schema: Schema, depth: int) -> str:
        kind = _kind(schema)
        target = self.var()
        if kind == "null":
            return "None"
        if kind == "boolean":
            self.emit(depth, f"{target} = data[pos] != 0")
            self.emit(depth, "pos += 1")
        elif kind in ("int", "long"):
            self.long(depth, target)
        elif kind in ("float", "double"):
            self.emit(depth, f"{target} = {'_FLOAT' if kind == 'float' else '_DOUBLE'}(data, pos)[0]")
            self.emit(depth, f"pos += {4 if kind == 'float' else 8}")
        elif kind in ("bytes", "string", "fixed"):
            size = self.var("n")
            if kind == "fixed":
                self.emit(depth, f"{size} = {int(schema['size'])}")
            else:
                self.length(depth, size)
            chunk = f"data[pos:pos + {size}]"
            self.emit(depth, f"{target} = " + (f"str({chunk}, 'utf-8')" if kind == "string" else chunk))
            self.emit(depth, f"pos += {size}")
        elif kind == "enum":
            index = self.var("i")
            self.long(depth, index)
            symbols = self.const(tuple(schema["symbols"]), "symbols")
            self.emit(depth, f"{target} = {symbols}[{index}] if 0 <= {index} < {len(schema['symbols'])} "
                             f"else _bad('enum index', {index})")
        else:
            raise Unsupported(f"type {kind}")
        return target

    def read_record(self, w: dict[str, Any], r: dict[str, Any], depth: int) -> str:
        if w.get("name") != r.get("name"):
            raise Unsupported(f"record {w.get('name')} read as {r.get('name')}")
        if w["name"] in self.open_records:
            raise Unsupported(f"recursive type {w['name']}")
        self.open_records.append(w["name"])
        wanted = {field["name"]: field for field in r["fields"]}
        written = {field["name"] for field in w["fields"]}
        if set(wanted) - written:
            raise Unsupported(f"{r['name']}: reader fields missing in the writer need defaults")
        items = []
        for field in w["fields"]:
            if field["name"] in wanted:
                items.append((field["name"], self.read(field["type"], wanted[field["name"]]["type"], depth)))
            else:
                self.skip(field["type"], depth)
        self.open_records.pop()
        target = self.var("rec")
        self.emit(depth, f"{target} = {{{', '.join(f'{name!r}: {value}' for name, value in items)}}}")
        return target

    def read_union(self, w: list[Any], r: list[Any], depth: int) -> str:
        if len(w) != len(r):
            raise Unsupported("union branches differ")
        index, target = self.var("i"), self.var()
        self.emit(depth, f"{index} = {self.union_index(depth, len(w))}")
        for position, (wb, rb) in enumerate(zip(w, r, strict=True)):
            rw = resolve(wb, self.writer_names)
            rr = resolve(rb, self.reader_names)
            if _kind(rw) != _kind(rr) or _name(rw) != _name(rr):
                raise Unsupported("union branches differ")
            self.emit(depth, f"{'if' if position == 0 else 'elif'} {index} == {2 * position}:")
            self.emit(depth + 1, f"{target} = {self.read(wb, rb, depth + 1)}")
        self.emit(depth, "else:")
        self.emit(depth + 1, f"{target} = _bad('union index byte', {index})")
        return target

    def read_container(self, w: dict[str, Any], r: dict[str, Any], depth: int) -> str:
        is_map = w["type"] == "map"
        target, count = self.var(), self.var("n")
        self.emit(depth, f"{target} = {{}}" if is_map else f"{target} = []")
        self.emit(depth, "while True:")
        self.long(depth + 1, count)
        self.emit(depth + 1, f"if {count} == 0:")
        self.emit(depth + 2, "break")
        self.emit(depth + 1, f"if {count} < 0:")
        self.emit(depth + 2, f"{count} = -{count}")
        self.skip("long", depth + 2)  # the block's size in bytes
        self.emit(depth + 1, f"for _ in range({count}):")
        if is_map:
            key = self.read_leaf("string", depth + 2)
            value = self.read(w["values"], r["values"], depth + 2)
            self.emit(depth + 2, f"{target}[{key}] = {value}")
        else:
            item = self.read(w["items"], r["items"], depth + 2)
            self.emit(depth + 2, f"{target}.append({item})")
        return target

    # -- skipping --------------------------------------------------------------------------

    def skip(self, writer: Schema, depth: int) -> None:
        """Emit code stepping over one ``writer`` value."""
        w = resolve(writer, self.writer_names)
        kind = _kind(w)
        if kind == "null":
            return
        if kind in ("boolean", "float", "double", "fixed"):
            width = {"boolean": 1, "float": 4, "double": 8}.get(kind) or int(w["size"])
            self.emit(depth, f"pos += {width}")
        elif kind in ("int", "long", "enum"):
            self.emit(depth, "if data[pos] < 128:")
            self.emit(depth + 1, "pos += 1")
            self.emit(depth, "else:")
            self.emit(depth + 1, "pos = _skip_varint(data, pos)")
        elif kind in ("bytes", "string"):
            size = self.var("n")
            self.length(depth, size)
            self.emit(depth, f"pos += {size}")
        elif kind == "record":
            if w["name"] in self.open_records:
                raise Unsupported(f"recursive type {w['name']}")
            self.open_records.append(w["name"])
            for field in w["fields"]:
                self.skip(field["type"], depth)
            self.open_records.pop()
        elif kind == "union":
            index = self.var("i")
            self.emit(depth, f"{index} = {self.union_index(depth, len(w))}")
            for position, branch in enumerate(w):
                self.emit(depth, f"{'if' if position == 0 else 'elif'} {index} == {2 * position}:")
                self.emit(depth + 1, "pass")
                self.skip(branch, depth + 1)
            self.emit(depth, "else:")
            self.emit(depth + 1, f"_bad('union index byte', {index})")
        elif kind in ("array", "map"):
            count = self.var("n")
            self.emit(depth, "while True:")
            self.long(depth + 1, count)
            self.emit(depth + 1, f"if {count} == 0:")
            self.emit(depth + 2, "break")
            self.emit(depth + 1, f"if {count} < 0:")  # the writer gave the block's size: jump
            block = self.var("n")
            self.length(depth + 2, block)
            self.emit(depth + 2, f"pos += {block}")
            self.emit(depth + 2, "continue")
            self.emit(depth + 1, f"for _ in range({count}):")
            self.emit(depth + 2, "pass")
            if kind == "map":
                self.skip("string", depth + 2)
            self.skip(w["values"] if kind == "map" else w["items"], depth + 2)
        else:
            raise Unsupported(f"type {kind}")


def resolve(schema: Schema, names: dict[str, Any]) -> Schema:
    """A schema node with named references replaced by their definitions."""
    while True:
        if isinstance(schema, str):
            if schema in PRIMITIVES:
                return schema
            if schema not in names:
                raise Unsupported(f"unknown named type {schema}")
            schema = names[schema]
        elif isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)):
            schema = schema["type"]
        elif (isinstance(schema, dict) and schema.get("type") in PRIMITIVES
              and "logicalType" not in schema):
            return schema["type"]
        else:
            return schema


def _named(schema: Schema) -> dict[str, Any]:
    """The named types a parsed schema defines (fastavro keeps them under ``__named_schemas``)."""
    return schema.get("__named_schemas", {}) if isinstance(schema, dict) else {}


def _kind(schema: Schema) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, str):
        return schema
    return str(schema["type"])


def _name(schema: Schema) -> str | None:
    return schema.get("name") if isinstance(schema, dict) else None


def _logical_key(schema: Schema) -> str | None:
    if isinstance(schema, dict) and schema.get("logicalType"):
        return f"{schema['type']}-{schema['logicalType']}"
    return None


def _leaf_signature(schema: Schema) -> tuple[Any, ...]:
    """What must be equal for a leaf to be read as written, without resolution."""
    if isinstance(schema, str):
        return (schema,)
    return (schema["type"], schema.get("name"), schema.get("logicalType"), schema.get("precision"),
            schema.get("scale", 0), schema.get("size"), tuple(schema.get("symbols", ())))
