"""Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then the Avro binary.

Every Confluent-compatible client (confluent-kafka, Kafka UI, Flink, ksqlDB) frames values this
way, so this is what makes our topics readable by them and theirs by us.
"""

from __future__ import annotations

import struct

from bus.errors import SerializationError

MAGIC_BYTE = 0
HEADER_SIZE = 5
_HEADER = struct.Struct(">bI")


def header(schema_id: int) -> bytes:
    """The 5-byte prefix of every value written with ``schema_id``.

    Raises:
        SerializationError: the id does not fit in 4 unsigned bytes.
    """
    if not 0 <= schema_id <= 0xFFFFFFFF:
        raise SerializationError(f"schema id {schema_id} does not fit the wire format")
    return _HEADER.pack(MAGIC_BYTE, schema_id)


def schema_id_of(data: bytes, topic: str = "") -> int:
    """The schema id of a framed value.

    Raises:
        SerializationError: the value is too short to hold a schema id and any Avro data
            (5 bytes or fewer), or its first byte is not the magic byte 0, i.e. it is not
            Confluent-framed at all (plain JSON, a string, another serde's bytes).
    """
    where = f"{topic}: " if topic else ""
    if data is None or len(data) <= HEADER_SIZE:
        size = 0 if data is None else len(data)
        raise SerializationError(f"{where}payload of {size} bytes is too short for the Confluent wire "
                                 f"format (magic byte, 4-byte schema id, Avro data)")
    if data[0] != MAGIC_BYTE:
        raise SerializationError(f"{where}bad magic byte {data[0]} (expected 0): not Confluent "
                                 f"wire format; the first bytes are {bytes(data[:8])!r}")
    return int(_HEADER.unpack_from(data)[1])
