"""Avro serde in Confluent wire format and a small schema registry client.

* :mod:`bus.serde.wire`: the 5-byte Confluent framing.
* :mod:`bus.serde.registry_client`: :class:`RegistryClient` for any Confluent-compatible registry.
* :mod:`bus.serde.avro`: :class:`AvroEncoder`, :class:`AvroDecoder`, :class:`AvroCodec`.
"""

from bus.serde.avro import AvroCodec, AvroDecoder, AvroEncoder
from bus.serde.registry_client import (
    NotFoundError,
    RegisteredSchema,
    RegistryClient,
    RegistryRequestError,
    UnknownSchemaIdError,
)

__all__ = [
    "AvroCodec",
    "AvroDecoder",
    "AvroEncoder",
    "NotFoundError",
    "RegisteredSchema",
    "RegistryClient",
    "RegistryRequestError",
    "UnknownSchemaIdError",
]
