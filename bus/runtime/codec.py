"""How the runtime turns bytes into events and back: the :class:`Codec` protocol.

The Avro codec (Confluent wire format through the schema registry) lives in ``bus.serde``; the
JSON codec here serves JSON topics and unit tests. A codec raises
:class:`~bus.errors.SerializationError` for data that can never be decoded (dead-letter it) and
:class:`~bus.errors.TransientError` when a dependency such as the registry is unreachable.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from bus.errors import SerializationError


class Codec(Protocol):
    """Encode and decode the values of one or more topics."""

    def decode(self, topic: str, data: bytes) -> Any: ...

    def encode(self, topic: str, value: Any) -> bytes: ...


class JsonCodec:
    """UTF-8 JSON values; ``default=str`` keeps Decimals and datetimes exact as strings."""

    def decode(self, topic: str, data: bytes) -> Any:
        try:
            return json.loads(data)
        except json.JSONDecodeError as exc:  # where, never what: the value may be personal data
            raise SerializationError(f"{topic}: value is not valid JSON: {exc.msg} at line {exc.lineno} "
                                     f"column {exc.colno}") from None
        except UnicodeDecodeError as exc:
            raise SerializationError(f"{topic}: value is not valid UTF-8 at byte {exc.start}") from None
        except RecursionError:
            raise SerializationError(f"{topic}: value is JSON nested too deep to parse") from None

    def encode(self, topic: str, value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":")).encode()
