"""The router's codec: Avro or JSON per topic, projected reads, bodies shaped to schemas.

The runtime asks one :class:`~bus.runtime.codec.Codec` for every topic; the router's routes say
which topics are JSON and which Avro, and under which contract a renamed topic is read and
written. Avro sources are decoded with a *projected* reader schema when the routes reading
them only need some fields (:func:`services.router.schema_paths.projected_schema`). Avro
outputs built from text are shaped to the schema on the way out (:class:`AvroShaper`), only
when the direct encoding fails, so bodies already in Avro form pay nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bus.errors import SerializationError
from bus.runtime.codec import Codec, JsonCodec
from services.router.formats.avro_json import AvroShaper


class RouterCodec:
    """Dispatch by topic: JSON topics to :class:`JsonCodec`, the rest to the Avro codec.

    Args:
        avro: the Avro codec (``bus.serde.AvroCodec`` over the registry) for Avro topics.
        json_topics: actual names of the topics routes read or write as JSON.
        writer_schemas: actual topic → its contract schema (used to shape outgoing bodies).
    """

    def __init__(self, avro: Codec, json_topics: set[str] | frozenset[str] = frozenset(),
                 writer_schemas: Mapping[str, dict[str, Any]] | None = None) -> None:
        self.avro = avro
        self.json = JsonCodec()
        self.json_topics = set(json_topics)
        self._schemas = dict(writer_schemas or {})
        self._shapers: dict[str, AvroShaper] = {}

    def decode(self, topic: str, data: bytes) -> Any:
        return (self.json if topic in self.json_topics else self.avro).decode(topic, data)

    def encode(self, topic: str, value: Any) -> bytes:
        """Encode for ``topic``; bytes (already encoded by a kafka endpoint) pass unchanged."""
        if isinstance(value, bytes):
            return value
        if topic in self.json_topics:
            return self.json.encode(topic, value)
        try:
            return self.avro.encode(topic, value)
        except SerializationError:
            if topic not in self._schemas or not isinstance(value, dict):
                raise
        shaper = self._shapers.get(topic)
        if shaper is None:
            shaper = self._shapers[topic] = AvroShaper(self._schemas[topic])
        return self.avro.encode(topic, shaper(value))
