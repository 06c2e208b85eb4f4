"""Avro encoding compiled to Python for one schema: the canonical values, fast.

fastavro's writer interprets the schema for every value and accepts many spellings of a value
(defaults for missing fields, tuples naming a union branch, any sequence for an array, ...).
:func:`compile_writer` generates one straight-line function for the values services actually
produce: every field present, ``str`` for strings, ``int`` for int/long, ``float``/``int`` for
float/double, ``bytes`` for bytes/fixed, ``bool`` for booleans, enum symbols, ``None`` or a value
for ``["null", X]`` unions, ``list`` arrays, ``dict`` maps and records; logical types go through
fastavro's own ``LOGICAL_WRITERS`` first, as fastavro does.

Contract of the generated ``encode(value, out)``: it appends to the ``bytearray`` ``out`` exactly
the bytes ``fastavro.schemaless_writer`` writes for ``value``, or raises (anything) when the
value is not in that canonical form; the caller then discards ``out`` and asks fastavro, which
either writes the value its own way or raises the real error. Schemas with a union other than
``["null", X]`` or with a recursive type are not compiled (:func:`compile_writer` returns None).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from fastavro.write import LOGICAL_WRITERS

from bus.serde.compiled import CodeWriter, Unsupported, _kind, _logical_key, _named, resolve

Encode = Callable[[Any, bytearray], None]

_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1


class NotCanonical(Exception):
    """The value is not in the form the compiled writer handles: let fastavro write it."""


def _varint(n: int) -> bytes:
    """Zig-zag varint of a signed 64-bit integer (OverflowError outside that range)."""
    if not _LONG_MIN <= n <= _LONG_MAX:
        raise OverflowError(f"{n} does not fit in a long")
    n = (n << 1) ^ (n >> 63)
    if n < 128:
        return bytes((n,))
    out = bytearray()
    while n >= 128:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_COUNTS = [_varint(n) for n in range(8192)]
"""The varints of 0..8191 (one or two bytes): lengths, counts and small numbers, looked up."""


def _not_canonical(what: str) -> Any:
    raise NotCanonical(what)


def compile_writer(schema: Any) -> Encode | None:
    """The compiled encoder of the fastavro-parsed ``schema``, or None when it has unions other
    than ``["null", X]`` or recursive types (fastavro then remains the encoder)."""
    gen = _WriterGenerator(_named(schema))
    try:
        gen.write(schema, "value", 1)
    except Unsupported:
        return None
    return gen.build()


class _WriterGenerator(CodeWriter):
    """Writes the body of ``encode``; :meth:`write` emits the code for one schema node."""

    def __init__(self, names: dict[str, Any]) -> None:
        super().__init__({"_varint": _varint, "_no": _not_canonical, "_COUNTS": _COUNTS,
                          "_FLOAT": struct.Struct("<f").pack, "_DOUBLE": struct.Struct("<d").pack})
        self.names = names

    def build(self) -> Encode:
        encode: Encode = self.function("encode", "value, out", "None", "<compiled avro writer>")
        return encode

    def write(self, schema: Any, x: str, depth: int) -> None:
        """Emit code appending the encoding of the value in variable ``x``."""
        s = resolve(schema, self.names)
        kind = _kind(s)
        logical = _logical_key(s)
        if logical and logical in LOGICAL_WRITERS:
            prepared = self.var()
            prepare, raw_schema = self.const(LOGICAL_WRITERS[logical], "prepare"), self.const(s, "schema")
            self.emit(depth, f"{prepared} = {prepare}({x}, {raw_schema})")
            x = prepared
        if kind == "null":
            self.emit(depth, f"if {x} is not None: _no('null')")
        elif kind == "boolean":
            self.emit(depth, f"if {x} is True: out += b'\\x01'")
            self.emit(depth, f"elif {x} is False: out += b'\\x00'")
            self.emit(depth, "else: _no('boolean')")
        elif kind in ("int", "long"):
            self.emit(depth, f"if type({x}) is not int: _no('{kind}')")
            if kind == "int":
                self.emit(depth, f"if not -2147483648 <= {x} <= 2147483647: _no('int range')")
            self.emit(depth, f"out += _COUNTS[{x}] if 0 <= {x} < 8192 else _varint({x})")
        elif kind in ("float", "double"):
            self.emit(depth, f"if type({x}) is not float and type({x}) is not int: _no('{kind}')")
            self.emit(depth, f"out += {'_FLOAT' if kind == 'float' else '_DOUBLE'}({x})")
        elif kind == "string":
            encoded = self.var("b")
            self.emit(depth, f"if type({x}) is not str: _no('string')")
            self.emit(depth, f"{encoded} = {x}.encode()")
            self.emit(depth, f"out += _COUNTS[len({encoded})] if len({encoded}) < 8192 else "
                             f"_varint(len({encoded}))")
            self.emit(depth, f"out += {encoded}")
        elif kind == "bytes":
            self.emit(depth, f"if type({x}) is not bytes: _no('bytes')")
            self.emit(depth, f"out += _varint(len({x}))")
            self.emit(depth, f"out += {x}")
        elif kind == "fixed":
            self.emit(depth, f"if type({x}) is not bytes or len({x}) != {int(s['size'])}: _no('fixed')")
            self.emit(depth, f"out += {x}")
        elif kind == "enum":
            encoded = self.var("b")
            symbols = self.const({symbol: _varint(i) for i, symbol in enumerate(s["symbols"])}, "symbols")
            self.emit(depth, f"{encoded} = {symbols}.get({x}) if type({x}) is str else None")
            self.emit(depth, f"if {encoded} is None: _no('enum')")
            self.emit(depth, f"out += {encoded}")
        elif kind == "record":
            self.write_record(s, x, depth)
        elif kind == "union":
            self.write_union(s, x, depth)
        elif kind == "array":
            item = self.var()
            self.emit(depth, f"if type({x}) is not list: _no('array')")
            self.emit(depth, f"if {x}:")
            self.emit(depth + 1, f"out += _varint(len({x}))")
            self.emit(depth + 1, f"for {item} in {x}:")
            self.write(s["items"], item, depth + 2)
            self.emit(depth, "out += b'\\x00'")
        elif kind == "map":
            key, item = self.var("k"), self.var()
            self.emit(depth, f"if type({x}) is not dict: _no('map')")
            self.emit(depth, f"if {x}:")
            self.emit(depth + 1, f"out += _varint(len({x}))")
            self.emit(depth + 1, f"for {key}, {item} in {x}.items():")
            self.write("string", key, depth + 2)
            self.write(s["values"], item, depth + 2)
            self.emit(depth, "out += b'\\x00'")
        else:
            raise Unsupported(f"type {kind}")

    def write_record(self, s: dict[str, Any], x: str, depth: int) -> None:
        if s["name"] in self.open_records:
            raise Unsupported(f"recursive type {s['name']}")
        self.open_records.append(s["name"])
        self.emit(depth, f"if type({x}) is not dict: _no('record {s['name']}')")
        for field in s["fields"]:
            value = self.var()
            self.emit(depth, f"{value} = {x}[{field['name']!r}]")
            self.write(field["type"], value, depth)
        self.open_records.pop()

    def write_union(self, s: list[Any], x: str, depth: int) -> None:
        kinds = [_kind(resolve(branch, self.names)) for branch in s]
        if len(s) != 2 or "null" not in kinds or kinds[0] == kinds[1]:
            raise Unsupported("a union other than [null, X]")
        null_at = kinds.index("null")
        other = s[1 - null_at]
        self.emit(depth, f"if {x} is None:")
        self.emit(depth + 1, f"out += {bytes([2 * null_at])!r}")
        self.emit(depth, "else:")
        # fastavro reads a tuple as (branch name, value) and a dict's '-type' as the branch
        self.emit(depth + 1, f"if type({x}) is tuple or (type({x}) is dict and '-type' in {x}): "
                             "_no('union notation')")
        self.emit(depth + 1, f"out += {bytes([2 * (1 - null_at)])!r}")
        self.write(other, x, depth + 1)
