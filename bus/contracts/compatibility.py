"""Avro schema compatibility, as Confluent Schema Registry defines its levels.

The decision is the ``avro`` package's :class:`~avro.compatibility.ReaderWriterCompatibilityChecker`;
this module adds the levels and explains each problem with the field's dotted path and the
reason, because the checker's own result loses the pairing of messages and locations.

Levels (``reader`` / ``writer`` per pair checked):

- BACKWARD: the new schema reads data written with the latest version.
- FORWARD: the latest version reads data written with the new schema.
- FULL: both.
- ``*_TRANSITIVE``: the same against every previous (non-deleted) version, not only the latest.
- NONE: anything goes.
"""

from __future__ import annotations

from collections.abc import Sequence

from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType, lookup_writer_field
from avro.schema import (
    ArraySchema,
    EnumSchema,
    FixedSchema,
    MapSchema,
    NamedSchema,
    RecordSchema,
    Schema,
    UnionSchema,
)

from bus.contracts.avro_schema import SchemaInput, parse
from bus.errors import InvalidInput

LEVELS = (
    "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
    "FULL", "FULL_TRANSITIVE", "NONE",
)
DEFAULT_LEVEL = "BACKWARD"


class InvalidCompatibilityLevel(InvalidInput, ValueError):
    """A compatibility level that is not one of :data:`LEVELS` (the registry answers 42203)."""

NEW = "the new schema"


def check_level(level: str) -> str:
    """The level upper-cased. Raises InvalidCompatibilityLevel (a ValueError) if unknown."""
    upper = str(level).upper()
    if upper not in LEVELS:
        raise InvalidCompatibilityLevel(
            f"Invalid compatibility level {level!r}; valid levels are {', '.join(LEVELS)}"
        )
    return upper


def incompatibilities(
    candidate: SchemaInput | Schema,
    previous: Sequence[SchemaInput | Schema],
    level: str,
    *,
    labels: Sequence[str] | None = None,
) -> list[str]:
    """Human-readable problems (each naming the field/path and the reason) of registering
    `candidate` after `previous` (oldest first) under compatibility `level`; empty list = compatible.

    Args:
        candidate: the schema to register (JSON text, decoded JSON or a parsed avro Schema).
        previous: the subject's earlier versions, oldest first; deleted versions left out.
        level: one of :data:`LEVELS` (case-insensitive).
        labels: names of the previous versions in messages (default ``version 1..n``).

    Raises:
        InvalidCompatibilityLevel: unknown level (also a ValueError).
        InvalidSchema: a schema does not parse (also a ValueError).
    """
    level = check_level(level)
    names = list(labels) if labels is not None else [f"version {i + 1}" for i in range(len(previous))]
    if level == "NONE" or not previous:
        return []
    new = _parsed(candidate)
    pairs = list(zip(previous, names, strict=True))
    if not level.endswith("_TRANSITIVE"):
        pairs = pairs[-1:]
    problems: list[str] = []
    for old_input, label in reversed(pairs):
        old = _parsed(old_input)
        if level.startswith(("BACKWARD", "FULL")):
            problems += _problems(new, old, NEW, label)
        if level.startswith(("FORWARD", "FULL")):
            problems += _problems(old, new, label, NEW)
    return list(dict.fromkeys(problems))


def _parsed(schema: SchemaInput | Schema) -> Schema:
    return schema if isinstance(schema, Schema) else parse(schema)


def compatible(reader: Schema, writer: Schema) -> bool:
    """True if ``reader`` can read everything ``writer`` may write (the avro checker decides)."""
    result = ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)
    return result.compatibility is SchemaCompatibilityType.compatible


def _problems(reader: Schema, writer: Schema, reader_name: str, writer_name: str) -> list[str]:
    if compatible(reader, writer):
        return []
    found = _Explainer(reader_name, writer_name).explain(reader, writer, "")
    return found or [f"{reader_name} cannot read data written with {writer_name}"]


def _describe(schema: Schema) -> str:
    return schema.fullname if isinstance(schema, NamedSchema) else str(schema.type)


class _Explainer:
    """Walks a reader/writer pair that the checker found incompatible and names each problem."""

    def __init__(self, reader_name: str, writer_name: str) -> None:
        self.r, self.w = reader_name, writer_name
        self.seen: set[tuple[int, int]] = set()

    def _where(self, path: str) -> str:
        return f"field '{path}'" if path else "the top-level schema"

    def explain(self, reader: Schema, writer: Schema, path: str) -> list[str]:
        if (id(reader), id(writer)) in self.seen or compatible(reader, writer):
            return []
        self.seen.add((id(reader), id(writer)))
        where = self._where(path)
        if isinstance(writer, UnionSchema):
            problems = []
            for branch in writer.schemas:
                if not compatible(reader, branch):
                    problems += self._reader_vs(reader, branch, path)
            return problems
        if isinstance(reader, UnionSchema):
            return self._reader_vs(reader, writer, path)
        if reader.type != writer.type:
            return [f"{where}: {self.r} expects type {_describe(reader)} but {self.w} writes "
                    f"{_describe(writer)}"]
        if isinstance(reader, NamedSchema) and isinstance(writer, NamedSchema):
            aliases = reader.props.get("aliases")
            aliases = aliases if isinstance(aliases, list) else []
            if reader.name != writer.name and writer.fullname not in aliases:
                return [f"{where}: type name changed from {writer.fullname} ({self.w}) to "
                        f"{reader.fullname} ({self.r}) without an alias"]
        return self._same_type(reader, writer, path)

    def _reader_vs(self, reader: Schema, writer: Schema, path: str) -> list[str]:
        """Explain one writer branch (never a union) against a reader that may be a union."""
        if not isinstance(reader, UnionSchema):
            return self.explain(reader, writer, path)
        matches = [b for b in reader.schemas if b.type == writer.type and _describe(b) == _describe(writer)]
        if matches:
            return self.explain(matches[0], writer, path)
        return [f"{self._where(path)}: {self.r} has no union branch that reads {_describe(writer)} "
                f"written by {self.w}"]

    def _same_type(self, reader: Schema, writer: Schema, path: str) -> list[str]:
        where = self._where(path)
        prefix = f"{path}." if path else ""
        if isinstance(reader, RecordSchema) and isinstance(writer, RecordSchema):
            problems = []
            for field in reader.fields:
                counterpart = lookup_writer_field(writer_schema=writer, reader_field=field)
                if counterpart is None:
                    if not field.has_default:
                        problems.append(
                            f"field '{prefix}{field.name}' has no default in {self.r} and is missing "
                            f"from {self.w}, so {self.r} cannot read data written with {self.w}")
                else:
                    problems += self.explain(field.type, counterpart.type, prefix + field.name)
            return problems
        if isinstance(reader, ArraySchema) and isinstance(writer, ArraySchema):
            return self.explain(reader.items, writer.items, f"{path}[]")
        if isinstance(reader, MapSchema) and isinstance(writer, MapSchema):
            return self.explain(reader.values, writer.values, f"{path}{{}}")
        if isinstance(reader, EnumSchema) and isinstance(writer, EnumSchema):
            missing = sorted(set(writer.symbols) - set(reader.symbols))
            return [f"{where}: enum symbols {missing} written by {self.w} are missing from {self.r} "
                    f"(and it has no default symbol)"]
        if isinstance(reader, FixedSchema) and isinstance(writer, FixedSchema):
            return [f"{where}: fixed size changed from {writer.size} ({self.w}) to "
                    f"{reader.size} ({self.r})"]
        return []
