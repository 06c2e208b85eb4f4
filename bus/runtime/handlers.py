"""Declarative handlers: a service is a set of functions registered for the topics they consume.

Example::

    service = Service("inventory-sync", metrics=assembly.metrics, health=assembly.health)

    @service.handler("orders.placed.v1")
    def reserve_stock(order: dict, ctx: Context) -> None:
        ctx.emit("inventory.reservations.v1", key=order["order_id"], value=reservation)

A handler receives the decoded event and a :class:`Context`; it raises
:class:`~bus.errors.TransientError` to be retried and :class:`~bus.errors.PermanentError` (or
any other exception) to have the message dead-lettered. What it emits is produced only after it
returned, so a retried attempt never produces twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from bus.errors import ConfigError

Headers = list[tuple[str, bytes]]
_handler_log = logging.getLogger("ecombus.handler")


class Consumed(NamedTuple):
    """A consumed record with confluent-kafka's optional types pinned down (immutable)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int | None

    @classmethod
    def of(cls, msg: Any) -> Consumed:
        """From a confluent-kafka Message (typed loosely there: every accessor may be None)."""
        kind, timestamp = msg.timestamp()
        return cls(msg.topic() or "", msg.partition() or 0, msg.offset() or 0, msg.key(),
                   msg.value(), headers_of(msg), timestamp if kind else None)


def headers_of(msg: Any) -> Headers:
    """A Message's headers as (name, bytes) pairs; None values become b""."""
    raw = msg.headers()
    if not raw:
        return []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return [(k, v if isinstance(v, bytes) else (v or "").encode()) for k, v in pairs]


class Output(NamedTuple):
    """One record a handler asked to produce (immutable).

    ``value`` is encoded with the loop's codec, except ``bytes`` (and ``None``, a tombstone),
    which are produced as they are; ``partition`` None lets the partitioner choose by key.
    """

    topic: str
    value: Any
    key: str | bytes | None
    headers: Headers
    partition: int | None = None


class Duplicate(Exception):
    """Raised by a handler for an event it already handled: nothing is produced, the outcome is
    ``duplicate`` (metrics, audit) and the offset moves on."""


@dataclass(slots=True)
class Context:
    """What a handler knows about the message it handles, and where its outputs go.

    Attributes:
        topic/partition/offset/key/headers/timestamp_ms: the consumed record.
        event_id/correlation_id/occurred_at_ms: from the event's ``meta`` when it has one.
        order_id: the event's ``order_id`` when it is about an order (audit, ``ecombus trace``).
        attempt: 1 on the first attempt, 2 on the first retry, ...
        log: a logger whose records carry the message's coordinates.
        acknowledged: actions to run once this message's outputs are acknowledged
            (:meth:`after_acknowledged`).
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: Headers
    timestamp_ms: int | None
    event_id: str | None = None
    correlation_id: str | None = None
    occurred_at_ms: int | None = None
    order_id: str | None = None
    attempt: int = 1
    outputs: list[Output] = field(default_factory=list)
    acknowledged: list[Callable[[], None]] = field(default_factory=list)

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger whose records carry this message's coordinates and ids."""
        return logging.LoggerAdapter(_handler_log, {
            "topic": self.topic, "partition": self.partition, "offset": self.offset,
            "event_id": self.event_id, "correlation_id": self.correlation_id})

    def emit(self, topic: str, value: Any, key: str | bytes | None = None,
             headers: Headers | None = None, partition: int | None = None) -> None:
        """Queue a record to produce once the handler has returned successfully."""
        self.outputs.append(Output(topic, value, key, list(headers) if headers else [], partition))

    def after_acknowledged(self, action: Callable[[], None]) -> None:
        """Run ``action`` once every output of this message was acknowledged by the broker.

        At-least-once: when the loop stores the message's offset (its outputs, and those of every
        earlier message of its partition, acknowledged); exactly-once: after the transaction
        holding them committed. Never when a delivery failed or the transaction aborted: the
        message is then handled again, and its new attempt registers its own actions. Actions of
        an attempt that raised are dropped with it. An action that raises is logged and skipped.
        """
        self.acknowledged.append(action)

    def header(self, name: str) -> bytes | None:
        """The last value of a header of the consumed record, or None."""
        for key, value in reversed(self.headers):
            if key == name:
                return value
        return None


HandlerFn = Callable[[Any, Context], None]


@dataclass(frozen=True)
class HandlerSpec:
    """A registered handler: its name (metrics, DLQ headers, audit) and its topic."""

    name: str
    topic: str
    fn: HandlerFn
    side_effects: bool = False
    model: Any = None


class HandlerRegistry:
    """The handlers of one service, by topic (one handler per topic keeps ordering obvious)."""

    def __init__(self) -> None:
        self._by_topic: dict[str, HandlerSpec] = {}

    def handler(self, topic: str, *, name: str | None = None, side_effects: bool = False,
                model: Any = None) -> Callable[[HandlerFn], HandlerFn]:
        """Register the decorated function for ``topic``.

        Args:
            topic: the topic it consumes.
            name: defaults to the function's name.
            side_effects: True when it calls external systems; the runtime then skips events
                whose event_id it already handled (see :mod:`bus.runtime.idempotency`).
            model: a contract class (``bus.contracts.models``) with ``from_avro``; the handler
                then receives that typed event instead of the decoded dict.
        """

        def register(fn: HandlerFn) -> HandlerFn:
            if topic in self._by_topic:
                raise ConfigError(f"two handlers for {topic}: {self._by_topic[topic].name} and "
                                  f"{name or fn.__name__}")
            self._by_topic[topic] = HandlerSpec(name or fn.__name__, topic, fn, side_effects, model)
            return fn

        return register

    def for_topic(self, topic: str) -> HandlerSpec | None:
        return self._by_topic.get(topic)

    @property
    def topics(self) -> list[str]:
        return sorted(self._by_topic)

    @property
    def any_side_effects(self) -> bool:
        """True when some handler needs the dedupe store."""
        return any(spec.side_effects for spec in self._by_topic.values())
