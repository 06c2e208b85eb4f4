"""Show any record a person asks about: Avro through the registry, else JSON, else text or bytes.

Operators look at every kind of value on the bus: our Avro events, a dead letter that was never
Avro (a storefront's JSON, a broken file row), a partner's plain-text record. :func:`decode_value`
never raises for the *value's* sake: what is not framed Avro is tried as JSON, then as UTF-8
text, and is finally shown as bytes. Only an unreachable registry raises (a transient problem the
caller reports as such), so a page can say "registry down" rather than "garbage".
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Literal

from bus.errors import SerializationError
from bus.serde.avro import AvroDecoder
from bus.serde.wire import MAGIC_BYTE, schema_id_of

Kind = Literal["avro", "json", "text", "bytes", "empty"]


@dataclass(frozen=True)
class Decoded:
    """A value as people read it.

    Attributes:
        kind: how it was read.
        value: the decoded value (Avro: dicts with Decimal/datetime as fastavro returns them;
            JSON: parsed; text: the string; bytes: base64 text).
        schema_id: the writer schema id of an Avro value.
        problem: why a value that looked framed could not be read as Avro (shown beside it).
    """

    kind: Kind
    value: Any
    schema_id: int | None = None
    problem: str | None = None


def decode_value(decoder: AvroDecoder | None, topic: str, data: bytes | None) -> Decoded:
    """Read ``data`` from ``topic`` as well as it can be read.

    Raises:
        TransientError: the registry is unreachable while resolving a new schema id.
    """
    if not data:
        return Decoded("empty", None)
    problem = None
    if decoder is not None and data[0] == MAGIC_BYTE and len(data) > 5:
        try:
            return Decoded("avro", decoder.decode(topic, data), schema_id_of(data, topic))
        except SerializationError as exc:
            problem = str(exc)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Decoded("bytes", base64.b64encode(data).decode("ascii"), problem=problem)
    try:
        return Decoded("json", json.loads(text), problem=problem)
    except ValueError:
        return Decoded("text", text, problem=problem)


def decode_key(data: bytes | None) -> str | None:
    """A record key as text (keys are UTF-8 strings on our topics); other bytes as ``base64:...``."""
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(data).decode("ascii")
