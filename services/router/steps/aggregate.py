"""``aggregate``: gather messages by key into one, closed by count or by time window.

Example::

    - aggregate:
        key: "sku"                 # messages with the same key are gathered together
        count: 100                 # close a group at 100 messages...
        window_seconds: 60         # ...or 60 s after its first message, whichever comes first
        into: items                # the output body: {"key": <key>, "items": [bodies...]}

Groups live in a durable :class:`~services.router.spool.Spool` (under the router's state
folder), so a crash loses nothing and a redelivered input is not gathered twice. A group leaves
the spool only once its output was delivered, so the output is at-least-once: after a crash
between delivery and removal it is sent again, with the same key and the same items.
"""

from __future__ import annotations

import re
import time
from typing import Any

from pydantic import Field, model_validator

from services.router.message import Message
from services.router.schema_paths import Shape
from services.router.spool import Entry, Spool
from services.router.steps.base import Expr, Flow, Step, StepConfig, register


@register("aggregate")
class Aggregate(Step):
    """Gather bodies by key; emit a group at ``count`` or when its window closes."""

    class Config(StepConfig):
        key: Expr
        count: int | None = Field(None, ge=1)
        window_seconds: float | None = Field(None, gt=0)
        into: str = Field("items", pattern=r"^[A-Za-z][A-Za-z0-9_]*$")

        @model_validator(mode="after")
        def _closes(self) -> Aggregate.Config:
            if self.count is None and self.window_seconds is None:
                raise ValueError("give 'count', 'window_seconds' or both, or groups never close")
            return self

    def __init__(self, name: str, config: Any, build: Any) -> None:
        super().__init__(name, config, build)
        self.route = ""
        self.spool: Spool | None = None
        self._opened: dict[str, float] = {}

    def start(self) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{self.route}.{self.name}")
        self.spool = Spool(self.build.state_dir / "aggregate" / f"{safe}.jsonl")
        now = time.monotonic()
        for entry in self.spool.load():
            self._opened.setdefault(entry.value["key"], now)

    def process(self, msg: Message, flow: Flow) -> list[Message]:
        if self.spool is None:
            self.route = flow.route
            self.start()
        assert self.spool is not None
        key = self.config.key(msg.body, msg.headers, msg.key)
        key = "" if key is None else str(key)
        seq = flow.origin.next_seq(self.name)
        if self.spool.add(flow.origin, {"key": key, "body": msg.body, "headers": msg.headers}, seq):
            self._opened.setdefault(key, time.monotonic())
        group = self._group(key)
        if self.config.count is not None and len(group) >= self.config.count:
            flow.after_delivery(lambda: self._remove(key))
            return [self._emit(key, group)]
        return []

    def due(self) -> list[tuple[Message, Any]]:
        """Groups whose window closed: (message, call once delivered)."""
        if self.spool is None or self.config.window_seconds is None:
            return []
        now = time.monotonic()
        closed = [k for k, t in self._opened.items() if now - t >= self.config.window_seconds]
        return [(self._emit(k, self._group(k)), lambda k=k: self._remove(k)) for k in closed
                if self._group(k)]

    def _group(self, key: str) -> list[Entry]:
        assert self.spool is not None
        return [e for e in self.spool.entries if e.value["key"] == key]

    def _emit(self, key: str, group: list[Entry]) -> Message:
        first = group[0].value
        body = {"key": key, self.config.into: [e.value["body"] for e in group]}
        return Message(body=body, headers=dict(first["headers"]), key=key or None)

    def _remove(self, key: str) -> None:
        assert self.spool is not None
        with self.spool.lock:
            self.spool.rewrite([e for e in self.spool.entries if e.value["key"] != key])
        self._opened.pop(key, None)

    def after(self, shape: Shape | None) -> Shape | None:
        return Shape("record", "aggregate", {"key": Shape("string", "string"),
                                             self.config.into: Shape("array", "array", items=shape)})

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
