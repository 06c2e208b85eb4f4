"""What every endpoint is, and the one registry of endpoint kinds (name → config model + class).

An endpoint kind registers a class with a pydantic ``Config`` beside it, as steps do. A route
reads ``from`` one endpoint (:meth:`Endpoint.source_of` tells which Kafka topic, folder or HTTP
path) and sends to one or more (:meth:`Endpoint.send`). Sending is synchronous for HTTP and
files; for Kafka it hands the record to the :class:`Outbox` of the input being processed, which
the runtime produces once the whole input was handled (and, exactly-once, in its transaction).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from services.router.build import BuildContext
from services.router.expressions import Expression
from services.router.message import Message, Origin


class EndpointConfig(BaseModel):
    """Base of every endpoint's configuration: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Outbox(Protocol):
    """Where Kafka records of one input go until the runtime produces them."""

    def emit(self, topic: str, value: Any, key: str | bytes | None = None,
             headers: list[tuple[str, bytes]] | None = None) -> None: ...


class Endpoint:
    """One endpoint of a route. Subclasses define ``Config`` and what they support."""

    kind: ClassVar[str] = ""
    Config: ClassVar[type[EndpointConfig]] = EndpointConfig
    can_read: ClassVar[bool] = False
    can_write: ClassVar[bool] = False

    def __init__(self, name: str, config: Any, build: BuildContext) -> None:
        self.name = name
        self.config = config
        self.build = build

    def describe(self) -> str:
        """A short label for metrics and reports, e.g. ``kafka:orders.review.v1``."""
        return self.kind

    def send(self, msg: Message, origin: Origin, outbox: Outbox) -> None:
        """Deliver one message (raise TransientError to have the input retried)."""
        raise NotImplementedError

    def reads(self) -> list[Expression]:
        """Expressions it evaluates on outgoing messages (keys, paths)."""
        return [v for v in self.config.__dict__.values() if isinstance(v, Expression)]

    def whole_body(self) -> bool:
        """True when it writes the whole body (so every field of it must be decoded)."""
        return self.can_write

    def start(self) -> None:
        """Connect or load state before the first message."""

    def flush_due(self) -> None:
        """Time-driven work (batch windows); called periodically by the router."""

    def close(self) -> None:
        """Finish pending work and release resources."""


ENDPOINTS: dict[str, type[Endpoint]] = {}
"""Every endpoint kind by name."""


def register(kind: str) -> Callable[[type[Endpoint]], type[Endpoint]]:
    """Class decorator: make an endpoint kind available to routes files under ``kind``."""

    def add(cls: type[Endpoint]) -> type[Endpoint]:
        cls.kind = kind
        ENDPOINTS[kind] = cls
        return cls

    return add
