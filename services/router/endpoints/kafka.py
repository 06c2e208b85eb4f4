"""``kafka``: read a topic (through the runtime's consumer loop) or write to one.

Example::

    from: {kafka: {topic: orders.placed.v1}}                 # Avro through the registry
    to:
      - kafka: {topic: orders.review.v1, key: order_id}
      - kafka: {topic: erp.orders.json.v1, format: json}

``format: avro`` (default) encodes with the topic's contract (``bus.contracts``) in Confluent
framing; a body built from text (``"17.80"``, ``"2025-06-03T09:00:00Z"``) is first shaped to the
schema (:mod:`~services.router.formats.avro_json`). ``format: json`` writes UTF-8 JSON.
The value is encoded at once (with the wiring's codec, ``build.extra['codec']``), so a body that
does not fit the topic's schema fails in this route and step, not later. The key is the ``key``
expression, else the message's key. Message headers are copied to the
record, except the router's own coordinates (``kafka.*``, ``file.*``, ``http.*``, ``split.*``) and a
replay's target (``ecombus.replay.*``: the replay was for this route, not for the readers of its
outputs).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from services.router.endpoints.base import Endpoint, EndpointConfig, Outbox, register
from services.router.expressions import Expr
from services.router.message import Message, Origin

INTERNAL_HEADERS = ("kafka.", "file.", "http.", "split.", "ecombus.replay.")


@register("kafka")
class Kafka(Endpoint):
    """A Kafka topic, read or written."""

    can_read = True
    can_write = True

    class Config(EndpointConfig):
        topic: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
        format: Literal["avro", "json"] = "avro"
        key: Expr | None = None

    def __init__(self, name: str, config: Any, build: Any) -> None:
        super().__init__(name, config, build)
        self.topic: str = build.topics.get(config.topic, config.topic)
        """The actual topic (a logical name may be renamed by the settings)."""
        self._codec: Any = None

    def start(self) -> None:
        self._codec = self.build.extra.get("codec")

    def describe(self) -> str:
        return f"kafka:{self.config.topic}"

    def send(self, msg: Message, origin: Origin, outbox: Outbox) -> None:
        key = msg.key
        if self.config.key is not None:
            value = self.config.key(msg.body, msg.headers, msg.key)
            key = None if value is None else str(value)
        headers = [(k, v.encode()) for k, v in msg.headers.items() if not k.startswith(INTERNAL_HEADERS)]
        codec = self._codec or self.build.extra.get("codec")
        value = msg.body if codec is None else codec.encode(self.topic, msg.body)
        outbox.emit(self.topic, value, key, headers)

    def whole_body(self) -> bool:
        return True
