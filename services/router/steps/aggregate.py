"""``aggregate``: gather messages by key into one, closed by count or by time window.

Example::

    - aggregate:
        key: "sku"                 # messages with the same key are gathered together
        count: 100                 # close a group at 100 messages...
        window_seconds: 60         # ...or 60 s after its first message, whichever comes first
        into: items                # the output body: {"key": <key>, "items": [bodies...]}

Groups live in a durable :class:`~services.router.spool.Spool` of the step's own: one file per
route, branch and step (``<state>/aggregate/<route>.<branch path><step>.jsonl``), so two routes'
default-named aggregates (``1-aggregate``) never share one. A crash loses nothing and a
redelivered input is not gathered twice.

A group leaves the spool only once its output was acknowledged (:meth:`Flow.after_delivery`,
which the Kafka consumer loop runs after the broker acknowledged or the transaction committed):

* closed by count while handling an input: the group is held (not part of any new group) until
  then; if the output is lost (a failed delivery, an aborted transaction, a retried file), the
  input that closed it is handled again and emits the same group again;
* closed by its window (:meth:`due`, called by the router's ticker): the ticker delivers the
  group through the route's delivery path (a transaction when the route's outputs are
  transactional) and calls back :meth:`WindowClose.acknowledged` or, when delivery failed,
  :meth:`WindowClose.failed`, which opens the group again for the next tick;
* groups found whole in the spool at start (a crash between delivery and removal, or before
  delivery) are emitted again by the next tick: the output is at-least-once, with the same key
  and the same items.

An HTTP input has no position to be redelivered at: a group it closed whose output failed stays
held until the router restarts, then is emitted by the first tick.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import Field, model_validator

from bus.errors import ConfigError
from services.router.message import Message
from services.router.schema_paths import Shape
from services.router.spool import Entry, Spool
from services.router.steps.base import Expr, Flow, Step, StepConfig, register

Closing = tuple[Any, ...]
"""What identifies a held group: the input that closed it, or a window number."""


@dataclass(frozen=True)
class WindowClose:
    """A group :meth:`Aggregate.due` closed: deliver ``message``, then call one of the two."""

    message: Message
    acknowledged: Callable[[], None]
    failed: Callable[[], None]


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
        self.spool: Spool | None = None
        self.clock: Callable[[], float] = time.monotonic
        self._lock = threading.RLock()
        self._arrived: dict[int, float] = {}
        """When each open or held entry arrived (by identity), for windows."""
        self._held: dict[Closing, list[Entry]] = {}
        """Groups emitted and not yet acknowledged, by what closed them."""
        self._in_flight: set[Closing] = set()
        self._holding: set[int] = set()
        self._numbers = itertools.count()

    @property
    def spool_name(self) -> str:
        """The spool file's name: route, branch path and step, made safe for a file name."""
        return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{self.route}.{self.path}{self.name}") + ".jsonl"

    def start(self) -> None:
        """Open the step's own spool and take up what it holds.

        Raises:
            ConfigError: the step was not bound to its route (:meth:`Step.bind`).
        """
        if not self.route:
            raise ConfigError(f"aggregate {self.name!r} started before it was bound to its route")
        with self._lock:
            self.spool = Spool(self.build.state_dir / "aggregate" / self.spool_name)
            now = self.clock()
            by_key: dict[str, list[Entry]] = {}
            for entry in self.spool.load():
                by_key.setdefault(entry.value["key"], []).append(entry)
                self._arrived[id(entry)] = now
            size = self.config.count
            for entries in by_key.values():  # whole groups left by a crash: the next tick emits them
                while size is not None and len(entries) >= size:
                    self._hold(("restored", next(self._numbers)), entries[:size])
                    entries = entries[size:]

    def process(self, msg: Message, flow: Flow) -> list[Message]:
        if self.spool is None:
            if not self.route:
                self.bind(flow.route)
            self.start()
        assert self.spool is not None
        key = self.config.key(msg.body, msg.headers, msg.key)
        key = "" if key is None else str(key)
        origin = flow.origin
        seq = origin.next_seq(self.name)
        closing: Closing = ("input", origin.stream, origin.position, seq) if origin.stream is not None \
            else ("request", next(self._numbers))
        with self._lock:
            if self.spool.add(origin, {"key": key, "body": msg.body, "headers": msg.headers}, seq):
                self._arrived[id(self.spool.entries[-1])] = self.clock()
            elif closing in self._held:  # its output was never acknowledged: emit the same group again
                flow.after_delivery(lambda: self._release(closing))
                return [self._emit(key, self._held[closing])]
            group = self._open(key)
            if self.config.count is None or len(group) < self.config.count:
                return []
            batch = group[: self.config.count]
            self._hold(closing, batch)
        flow.after_delivery(lambda: self._release(closing))
        return [self._emit(key, batch)]

    def due(self) -> list[WindowClose]:
        """Groups to emit now: windows that closed, and whole groups restored at start.

        Each is held until its :class:`WindowClose` is called back.
        """
        if self.spool is None:
            return []
        closes = []
        with self._lock:
            for closing, batch in self._held.items():
                if closing[0] == "restored" and closing not in self._in_flight:
                    closes.append(self._closing(closing, batch))
            if self.config.window_seconds is not None:
                now = self.clock()
                for key in dict.fromkeys(e.value["key"] for e in self.spool.entries):
                    group = self._open(key)
                    if group and now - min(self._arrived.get(id(e), now) for e in group) \
                            >= self.config.window_seconds:
                        closing = ("window", next(self._numbers))
                        self._hold(closing, group)
                        closes.append(self._closing(closing, group))
        return closes

    def _closing(self, closing: Closing, batch: list[Entry]) -> WindowClose:
        self._in_flight.add(closing)
        return WindowClose(self._emit(batch[0].value["key"], batch),
                           lambda: self._release(closing), lambda: self._reopen(closing))

    def _open(self, key: str) -> list[Entry]:
        assert self.spool is not None
        return [e for e in self.spool.entries if e.value["key"] == key and id(e) not in self._holding]

    def _hold(self, closing: Closing, batch: list[Entry]) -> None:
        self._held[closing] = batch
        self._holding.update(id(e) for e in batch)

    def _emit(self, key: str, group: list[Entry]) -> Message:
        first = group[0].value
        body = {"key": key, self.config.into: [e.value["body"] for e in group]}
        return Message(body=body, headers=dict(first["headers"]), key=key or None)

    def _release(self, closing: Closing) -> None:
        """The group's output was acknowledged: it leaves the spool (exactly its entries)."""
        assert self.spool is not None
        with self._lock:
            batch = self._held.pop(closing, None)
            self._in_flight.discard(closing)
            if batch is None:
                return
            gone = {id(e) for e in batch}
            self._holding -= gone
            with self.spool.lock:
                self.spool.rewrite([e for e in self.spool.entries if id(e) not in gone])
            for ident in gone:
                self._arrived.pop(ident, None)

    def _reopen(self, closing: Closing) -> None:
        """Delivering a window's group failed: its entries are open again (due at the next tick)."""
        with self._lock:
            self._in_flight.discard(closing)
            if closing[0] == "restored":
                return  # stays held; the next tick tries again
            batch = self._held.pop(closing, None) or []
            self._holding -= {id(e) for e in batch}

    def after(self, shape: Shape | None) -> Shape | None:
        return Shape("record", "aggregate", {"key": Shape("string", "string"),
                                             self.config.into: Shape("array", "array", items=shape)})

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
