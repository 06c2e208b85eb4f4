"""Avro values in Confluent wire format, through a schema registry.

* :class:`AvroEncoder` writes with the topic's writer schema (our contract by default). The
  schema is registered (or looked up) once per topic under ``<topic>-value`` (TopicNameStrategy)
  and parsed and compiled once (:mod:`bus.serde.compiled_writer`: values in canonical form are
  written by generated code, anything else by fastavro); after that, encoding is pure CPU.
* :class:`AvroDecoder` reads with the consumer's own *reader* schema when it has one, so an old
  consumer reads data from a newer writer (Avro schema resolution), and with the writer schema
  otherwise (``ecombus tail``). Writer schemas are fetched once per id. Each (topic, writer
  id) pair is compiled once to a Python decoder (:mod:`bus.serde.compiled`), about twice as
  fast as fastavro's interpreter and more for projected readers; pairs that need Avro schema
  resolution stay on fastavro.
* :class:`AvroCodec` is both, as the runtime's ``Codec`` protocol wants.

Failures: data that can never be read or written raises
:class:`~bus.errors.SerializationError` saying which (bad magic byte, unknown schema id, corrupt
or truncated payload, a value that does not match the schema): dead-letter it. An unreachable
registry raises :class:`~bus.errors.TransientError`: retry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from io import BytesIO
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from bus.contracts import TOPIC_EVENTS, schema_for_topic, subject_for
from bus.errors import SerializationError
from bus.serde.compiled import Decode, compile_reader
from bus.serde.compiled_writer import Encode, compile_writer
from bus.serde.registry_client import RegistryClient, Schema, schema_text
from bus.serde.wire import HEADER_SIZE, header, schema_id_of

Parsed = dict[str, Any]


def _load(schema: Schema) -> dict[str, Any]:
    return json.loads(schema) if isinstance(schema, str) else schema


def _parse(schema: Schema, what: str) -> Parsed:
    try:
        parsed: Parsed = parse_schema(_load(schema))  # type: ignore[assignment]
        return parsed
    except Exception as exc:  # fastavro raises several types for invalid schemas
        raise SerializationError(f"{what}: not a valid Avro schema: {exc}") from exc


class AvroEncoder:
    """Encode values for topics.

    Args:
        registry: where writer schemas are registered or looked up.
        schemas: writer schema per topic; topics not listed use their contract
            (:data:`bus.contracts.TOPIC_EVENTS`).
        auto_register: register a schema the subject lacks (else only look it up, and fail
            with a permanent error when it is not registered).
    """

    def __init__(self, registry: RegistryClient, schemas: Mapping[str, Schema] | None = None, *,
                 auto_register: bool = True) -> None:
        self.registry = registry
        self.schemas = dict(schemas or {})
        self.auto_register = auto_register
        self._writers: dict[str, tuple[bytes, Parsed, Encode | None]] = {}

    def encode(self, topic: str, value: Any) -> bytes:
        """Frame and encode one value (a dict in Avro form, or a model with ``to_avro()``).

        Raises:
            SerializationError: the value does not match the topic's schema.
            TransientError: the registry is unreachable (first use of a topic only).
        """
        writer = self._writers.get(topic) or self._writer(topic)
        if not isinstance(value, dict):
            value = value.to_avro()
        if writer[2] is not None:
            fast = bytearray(writer[0])
            try:
                writer[2](value, fast)
                return bytes(fast)
            except Exception:  # not in canonical form (or invalid): fastavro decides below
                pass
        out = BytesIO()
        out.write(writer[0])
        try:
            schemaless_writer(out, writer[1], value)
        except Exception as exc:  # fastavro raises ValueError, TypeError, KeyError, ...
            raise SerializationError(f"{topic}: value does not match schema {writer[1].get('name')}: "
                                     f"{type(exc).__name__}{_where(exc)}") from None
        return out.getvalue()

    def schema_id(self, topic: str) -> int:
        """The registry id of ``topic``'s writer schema (registering it on first use)."""
        return int.from_bytes((self._writers.get(topic) or self._writer(topic))[0][1:], "big")

    def _writer(self, topic: str) -> tuple[bytes, Parsed, Encode | None]:
        schema = self.schemas.get(topic) or schema_for_topic(topic)
        subject = subject_for(topic)
        if self.auto_register:
            schema_id = self.registry.register(subject, schema)
        else:
            found = self.registry.lookup(subject, schema)
            if found is None:
                raise SerializationError(f"{topic}: the writer schema is not registered under {subject}")
            schema_id = found.id
        parsed = _parse(schema, f"{topic} writer schema")
        self._writers[topic] = (header(schema_id), parsed, compile_writer(parsed))
        return self._writers[topic]


class AvroDecoder:
    """Decode Confluent-framed Avro values.

    Args:
        registry: where writer schemas are fetched by id.
        reader_schemas: the consumer's reader schema per topic.
        use_contracts: for topics not in ``reader_schemas``, read our topics with this
            version's contracts; False reads every value with its writer schema.
    """

    def __init__(self, registry: RegistryClient, reader_schemas: Mapping[str, Schema] | None = None, *,
                 use_contracts: bool = True) -> None:
        self.registry = registry
        self.reader_schemas = dict(reader_schemas or {})
        self.use_contracts = use_contracts
        self._writers: dict[int, tuple[Parsed, str]] = {}
        self._readers: dict[str, tuple[Parsed, str]] = {}
        self._plans: dict[tuple[str, int], tuple[Parsed, Parsed | None, Decode | None]] = {}

    def decode(self, topic: str, data: bytes) -> Any:
        """Decode one framed value read from ``topic``.

        Raises:
            SerializationError: bad magic byte, too short, unknown schema id, corrupt or
                truncated Avro data, or a writer schema the reader schema cannot resolve.
            TransientError: the registry is unreachable (first sight of a schema id only).
        """
        schema_id = schema_id_of(data, topic)
        writer, reader, compiled = self._plans.get((topic, schema_id)) or self._plan(topic, schema_id)
        try:
            if compiled is not None:
                value, end = compiled(data, HEADER_SIZE)
                if end > len(data):
                    raise EOFError(f"the value needs {end - len(data)} more bytes")
            else:
                buf = BytesIO(data)
                buf.seek(HEADER_SIZE)
                value = schemaless_reader(buf, writer, reader)
                end = buf.tell()
        except Exception as exc:  # EOFError, UnicodeDecodeError, IndexError, SchemaResolutionError...
            raise SerializationError(f"{topic}: corrupt or truncated Avro data for schema id {schema_id} "
                                     f"({len(data)} bytes): {type(exc).__name__}: {exc}") from exc
        if end != len(data):
            raise SerializationError(f"{topic}: corrupt Avro data for schema id {schema_id}: "
                                     f"{len(data) - end} bytes left after the value")
        return value

    def writer_schema(self, schema_id: int) -> Parsed:
        """The parsed writer schema with this id (fetched once)."""
        if schema_id not in self._writers:
            text = self.registry.schema_by_id(schema_id)
            self._writers[schema_id] = (_parse(text, f"schema id {schema_id}"), _fingerprint(text))
        return self._writers[schema_id][0]

    def _plan(self, topic: str, schema_id: int) -> tuple[Parsed, Parsed | None, Decode | None]:
        writer = self.writer_schema(schema_id)
        reader: Parsed | None = None
        if topic in self.reader_schemas or (self.use_contracts and topic in TOPIC_EVENTS):
            if topic not in self._readers:
                schema = self.reader_schemas.get(topic) or schema_for_topic(topic)
                self._readers[topic] = (_parse(schema, f"{topic} reader schema"), _fingerprint(schema))
            parsed, fingerprint = self._readers[topic]
            reader = None if fingerprint == self._writers[schema_id][1] else parsed
        plan = self._plans[(topic, schema_id)] = (writer, reader, compile_reader(writer, reader))
        return plan


def _fingerprint(schema: Schema) -> str:
    """Equal for equal schemas however their JSON is spaced or ordered."""
    return json.dumps(_load(schema), sort_keys=True, separators=(",", ":"))


class AvroCodec:
    """:class:`AvroEncoder` and :class:`AvroDecoder` on one registry client (the runtime's Codec)."""

    def __init__(self, registry: RegistryClient, writer_schemas: Mapping[str, Schema] | None = None,
                 reader_schemas: Mapping[str, Schema] | None = None) -> None:
        self.encoder = AvroEncoder(registry, writer_schemas)
        self.decoder = AvroDecoder(registry, reader_schemas)

    def encode(self, topic: str, value: Any) -> bytes:
        return self.encoder.encode(topic, value)

    def decode(self, topic: str, data: bytes) -> Any:
        return self.decoder.decode(topic, data)


__all__ = ["AvroCodec", "AvroDecoder", "AvroEncoder", "schema_text"]


_ON_FIELD = re.compile(r" on field ([A-Za-z_][A-Za-z0-9_]*)")


def _where(exc: Exception) -> str:
    """`` at field lines.quantity`` from fastavro's message, which also quotes the value (personal
    data, possibly): only the field names it mentions are kept, outermost first."""
    names = _ON_FIELD.findall(str(exc))
    path = [name for n, name in enumerate(reversed(names)) if n == 0 or name != names[-n]]
    if not path and isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str):
        path = [exc.args[0]]
    return f" at field {'.'.join(path)}" if path else ""
