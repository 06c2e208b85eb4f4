"""JsonCodec refusals: where the value is wrong, never what it holds, and never a RecursionError."""

from __future__ import annotations

import pytest

from bus.errors import SerializationError
from bus.runtime.codec import JsonCodec


@pytest.mark.parametrize("data,reason", [
    (b'{"name": "Hanako Sato", "phone": 09012345678}', "not valid JSON: Expecting ',' delimiter at line 1"),
    ('{"name": "佐藤 花子"}'.encode("shift_jis"), "not valid UTF-8 at byte"),
    (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deep"),
])
def test_a_value_that_is_not_json_is_a_serialization_error_without_its_content(data: bytes,
                                                                               reason: str) -> None:
    with pytest.raises(SerializationError) as refused:
        JsonCodec().decode("orders", data)
    assert str(refused.value).startswith(f"orders: value is {reason}"), str(refused.value)
    assert "Hanako" not in str(refused.value) and "0x" not in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
