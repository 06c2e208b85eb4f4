"""Confluent framing: magic byte 0, 4-byte big-endian id, payloads of 5 bytes or fewer invalid."""

from __future__ import annotations

import pytest

from bus.errors import SerializationError
from bus.serde.wire import header, schema_id_of


def test_header_is_magic_byte_and_big_endian_id() -> None:
    assert header(1) == b"\x00\x00\x00\x00\x01"
    assert header(0x01020304) == b"\x00\x01\x02\x03\x04"


def test_schema_id_round_trips() -> None:
    assert schema_id_of(header(4242) + b"\x02") == 4242


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x00\x00\x00\x01"])
def test_five_bytes_or_fewer_is_too_short(data: bytes) -> None:
    with pytest.raises(SerializationError, match="too short"):
        schema_id_of(data, "orders.placed.v1")


def test_bad_magic_byte_says_so() -> None:
    with pytest.raises(SerializationError, match=r"orders\.placed\.v1: bad magic byte 123"):
        schema_id_of(b'{"order_id": 1}', "orders.placed.v1")


def test_id_out_of_range() -> None:
    with pytest.raises(SerializationError):
        header(2**32)
