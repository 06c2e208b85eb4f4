"""``dedupe``: drop a message whose key an earlier input of this route already delivered.

Example: ``- dedupe: {key: "meta.event_id"}``

Keys are remembered in the runtime's replicated store of handled ids
(:class:`bus.runtime.idempotency.ProcessedEvents`, topic ``bus.processed.router.v1``), shared
by replicas and restarts. A key is recorded only once the input's outputs were delivered
(:meth:`Flow.after_delivery`), together with *which input* recorded it. A redelivery of that
same input (same topic, partition and offset, e.g. after a crash before its offset was
committed, or a rewound batch) is therefore not a duplicate and goes through again, so
at-least-once still holds; only a *different* input with the same key is dropped.

Between passing a key and its delivery, the input holds a *claim* on it in this process: a
second input with the same key in the same batch (both on their way, neither delivered yet) is
dropped too. The claim goes with the delivery, or with the input's failure
(:meth:`Flow.after_failure`: a retried or dead-lettered input must not keep its copies out),
or after :data:`CLAIM_SECONDS` if neither was ever reported (its outputs never acknowledged).
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar, Protocol

from services.router.message import Message
from services.router.steps.base import Expr, Flow, Step, StepConfig, register

CLAIM_SECONDS = 120.0
"""How long an input's claim on a key lasts without news of its delivery or failure."""


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
        self._claims: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()

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
        now = time.monotonic()
        with self._lock:
            claim = self._claims.get(key)
            claimed = claim is not None and claim[0] != this_input and now - claim[1] < CLAIM_SECONDS
            if claimed or (self.marks.seen(key) and not (this_input and self.marks.seen(this_input))):
                flow.filtered(self)
                return []
            self._claims[key] = (this_input, now)

        def release() -> None:
            with self._lock:
                if self._claims.get(key, (None, 0.0))[0] == this_input:
                    del self._claims[key]

        def record() -> None:
            self.marks.mark(key)
            if this_input:
                self.marks.mark(this_input)
            release()

        flow.after_delivery(record)
        flow.after_failure(release)
        return [msg]
