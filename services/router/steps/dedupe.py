"""``dedupe``: drop a message whose key an earlier input of this route already delivered.

Example: ``- dedupe: {key: "meta.event_id"}``

Keys are remembered in the runtime's replicated store of handled ids
(:class:`bus.runtime.idempotency.ProcessedEvents`, topic ``bus.processed.router.v1``), shared
by replicas and restarts. A key is recorded only once the input's outputs were delivered
(:meth:`Flow.after_delivery`), together with *which input* recorded it. A redelivery of that
same input (same topic, partition and offset, e.g. after a crash before its offset was
committed, or a rewound batch) is therefore not a duplicate and goes through again, so
at-least-once still holds; only a *different* input with the same key is dropped.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar, Protocol

from services.router.message import Message
from services.router.steps.base import Expr, Flow, Step, StepConfig, register


class Marks(Protocol):
    """What dedupe needs from a store of ids (ProcessedEvents has it)."""

    def seen(self, event_id: str) -> bool: ...

    def mark(self, event_id: str) -> None: ...


class MemoryMarks:
    """Marks kept in memory (route tests, or routes without a store configured)."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def seen(self, event_id: str) -> bool:
        with self._lock:
            return event_id in self._ids

    def mark(self, event_id: str, *_: Any) -> None:
        with self._lock:
            self._ids.add(event_id)


@register("dedupe")
class Dedupe(Step):
    """Drop repeats of a key; record keys after delivery."""

    shorthand: ClassVar[str] = "key"

    class Config(StepConfig):
        key: Expr

    def __init__(self, name: str, config: Any, build: Any) -> None:
        super().__init__(name, config, build)
        self._marks: Marks | None = None

    @property
    def marks(self) -> Marks:
        """The wiring's shared store (``build.extra['dedupe_marks']``), else one in memory."""
        if self._marks is None:
            self._marks = self.build.extra.get("dedupe_marks") or MemoryMarks()
        return self._marks

    def process(self, msg: Message, flow: Flow) -> list[Message]:
        value = self.config.key(msg.body, msg.headers, msg.key)
        if value is None:
            return [msg]
        key = f"{flow.route}/{self.name}/{value}"
        origin = flow.origin
        this_input = f"{key}@{origin.stream}:{origin.position}" if origin.stream else None
        if self.marks.seen(key) and not (this_input and self.marks.seen(this_input)):
            flow.filtered(self)
            return []

        def record() -> None:
            self.marks.mark(key)
            if this_input:
                self.marks.mark(this_input)

        flow.after_delivery(record)
        return [msg]
