"""What flows through a route: a :class:`Message`, and where it came from (:class:`Origin`).

A message is a body (a decoded Avro record as a dict, a CSV row, a parsed JSON or XML
document), string headers and a key. Endpoints put what they know about the source into the
headers (``kafka.topic``, ``kafka.partition``, ``kafka.offset``, ``file.name``, ``file.row``,
``http.path``), so expressions can use them (``headers['file.name']``).

The :class:`Origin` identifies the input unit a message came from (a Kafka record, a file row, an
HTTP request) and numbers the deliveries it causes, so outputs that are not transactional (batch
files) can recognise a redelivered input and skip what they already wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Message:
    """One message on its way through a route.

    Attributes:
        body: the content; steps replace it (map) or read it (filter, choice).
        headers: string headers; copied to Kafka record headers on the way out.
        key: the record key (str) or None.
    """

    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    key: str | None = None

    def derive(self, body: Any = None, **changes: Any) -> Message:
        """A copy with a new body (and other changes); headers are copied, not shared."""
        return Message(body=self.body if body is None else body,
                       headers=dict(changes.pop("headers", self.headers)),
                       key=changes.pop("key", self.key))


@dataclass
class Origin:
    """The input unit being processed and a counter of its deliveries per endpoint.

    Attributes:
        stream: where positions are counted, e.g. ``orders.placed.v1/3`` or ``file:stock.csv``;
            None when the input has no replayable position (an HTTP request).
        position: the offset or row number within the stream.
    """

    stream: str | None
    position: int
    _seq: dict[str, int] = field(default_factory=dict)

    def next_seq(self, endpoint: str) -> int:
        """0, 1, 2, ... per endpoint: deterministic when the same input is processed again."""
        seq = self._seq.get(endpoint, 0)
        self._seq[endpoint] = seq + 1
        return seq
