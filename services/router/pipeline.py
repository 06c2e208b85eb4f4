"""Running a route: an input goes through the steps and out to the endpoints.

:class:`RouteRunner` runs one :class:`~services.router.routes.Route` for one input at a time.
A failure anywhere becomes a :class:`RouteFailure` naming the route and the step (or the
endpoint, as ``to:<endpoint>``), transient or permanent as its cause was, so the runtime retries
or dead-letters the input with ``ecombus.errors.route`` / ``.step`` headers.

What :meth:`RouteRunner.handle` returns (:class:`Delivered`) lists what went where (route tests
compare it with their expectations) and the actions to run once the outputs are acknowledged
(dedupe marks, aggregate groups leaving their spool).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bus.errors import PermanentError, TransientError
from services.router.endpoints.base import Endpoint, Outbox
from services.router.message import Message, Origin
from services.router.metrics import RouterMetrics
from services.router.routes import Route
from services.router.steps.base import Step

Sender = Callable[[Endpoint, Message, Origin, Outbox], None]


def _send(endpoint: Endpoint, message: Message, origin: Origin, outbox: Outbox) -> None:
    endpoint.send(message, origin, outbox)


class RouteFailure(Exception):
    """Mixin: where in the router an input failed (read by the runtime's dead-lettering)."""

    route: str
    step: str


class TransientRouteFailure(TransientError, RouteFailure):
    """A step or endpoint failed transiently: retry the input."""


class PermanentRouteFailure(PermanentError, RouteFailure):
    """A step or endpoint failed for good: dead-letter the input."""


def route_failure(route: str, step: str, exc: BaseException) -> RouteFailure:
    """Wrap ``exc`` keeping its kind (transient stays transient, with its Retry-After)."""
    message = f"route {route!r}, step {step!r}: {type(exc).__name__}: {exc}"
    failure: RouteFailure
    if isinstance(exc, TransientError):
        failure = TransientRouteFailure(message, retry_after=exc.retry_after)
    else:
        failure = PermanentRouteFailure(message)
    failure.route, failure.step = route, step
    return failure


@dataclass
class Delivered:
    """What one input produced in one route."""

    sent: list[tuple[Endpoint, Message]] = field(default_factory=list)
    after: list[Callable[[], None]] = field(default_factory=list)
    on_failure: list[Callable[[], None]] = field(default_factory=list)
    filtered: list[str] = field(default_factory=list)
    branches: list[str] = field(default_factory=list)

    def acknowledged(self) -> None:
        """Run the actions waiting for the outputs' acknowledgement."""
        for action in self.after:
            action()
        self.after.clear()
        self.on_failure.clear()

    def failed(self, *_: object) -> None:
        """Run the actions waiting for a failure of the input (its outputs will never be
        acknowledged): the caller calls it when it gives the input up to a retry or a dead letter."""
        for action in self.on_failure:
            action()
        self.on_failure.clear()
        self.after.clear()


class _Flow:
    """The :class:`~services.router.steps.base.Flow` of one input in one route."""

    def __init__(self, runner: RouteRunner, origin: Origin, outbox: Outbox) -> None:
        self.route = runner.route.name
        self.origin = origin
        self._runner = runner
        self._outbox = outbox
        self.result = Delivered()

    def run(self, steps: Sequence[Step], messages: list[Message]) -> list[Message]:
        timer = time.perf_counter
        for step in steps:
            latency = self._runner.latency(step)
            out: list[Message] = []
            for msg in messages:
                started = timer()
                try:
                    out += step.process(msg, self)
                except RouteFailure:
                    raise
                except Exception as exc:
                    raise self._runner.failed(step.name, exc) from exc
                latency.observe(timer() - started)
            messages = out
        return messages

    def deliver(self, message: Message, endpoints: Sequence[Endpoint]) -> None:
        for endpoint in endpoints:
            try:
                self._runner.sender(endpoint, message, self.origin, self._outbox)
            except Exception as exc:
                raise self._runner.failed(f"to:{endpoint.describe()}", exc) from exc
            self.result.sent.append((endpoint, message))
            self._runner.sent(endpoint)

    def filtered(self, step: Step) -> None:
        self.result.filtered.append(step.name)
        self._runner.count("filtered", step.name)

    def took(self, branch: str) -> None:
        self.result.branches.append(branch)

    def after_delivery(self, action: Callable[[], None]) -> None:
        self.result.after.append(action)

    def after_failure(self, action: Callable[[], None]) -> None:
        self.result.on_failure.append(action)


class RouteRunner:
    """Run one route's steps and deliveries for each input.

    Args:
        route: the validated route.
        metrics: per-route metrics, if any.
        sender: replaces the endpoints' own ``send`` (route tests record instead of writing);
            endpoints are then not asked to ``finish`` an input either.
    """

    def __init__(self, route: Route, metrics: RouterMetrics | None = None,
                 sender: Sender | None = None) -> None:
        self.route = route
        self.metrics = metrics
        self.sender: Sender = sender or _send
        self._endpoints = [] if sender else route.all_endpoints()
        self._finishers = [e for e in self._endpoints if getattr(e, "finish", None) is not None]
        self._timings: dict[Step, _Observer] = {}  # hot path: series looked up once per step
        self._sent: dict[Endpoint, Any] = {}
        self._in = metrics.child("messages_in", route.name) if metrics else None
        self.lock = threading.RLock()

    def handle(self, msg: Message, origin: Origin, outbox: Outbox) -> Delivered:
        """Run one input through the route. Raises a RouteFailure naming the step.

        Inputs and closed aggregate windows (:meth:`resume`) of one route run one at a time.
        """
        if self._in is not None:
            self._in.inc()
        with self.lock:
            flow = _Flow(self, origin, outbox)
            try:
                for out in flow.run(self.route.steps, [msg]):
                    flow.deliver(out, self.route.to)
                self._finish(origin)
            except BaseException:
                flow.result.failed()
                raise
            return flow.result

    def _finish(self, origin: Origin) -> None:
        for endpoint in self._finishers:
            try:
                endpoint.finish(origin)  # type: ignore[attr-defined]
            except Exception as exc:
                raise self.failed(f"to:{endpoint.describe()}", exc) from exc

    def resume(self, step: Step, messages: list[Message], origin: Origin, outbox: Outbox) -> Delivered:
        """Continue after ``step`` (an aggregate whose window closed) with ``messages``."""
        with self.lock:
            flow = _Flow(self, origin, outbox)
            rest = _after(self.route.steps, step)
            try:
                for out in flow.run(rest, messages):
                    flow.deliver(out, self.route.to)
                self._finish(origin)
            except BaseException:
                flow.result.failed()
                raise
            return flow.result

    def failed(self, step: str, exc: BaseException) -> RouteFailure:
        failure = exc if isinstance(exc, RouteFailure) else route_failure(self.route.name, step, exc)
        if self.metrics:
            kind = "transient" if isinstance(failure, TransientError) else "permanent"
            self.metrics.child("failures", self.route.name, failure.step, kind).inc()
        return failure

    def latency(self, step: Step) -> _Observer:
        found = self._timings.get(step)
        if found is None:
            found = self._timings[step] = (_NO_TIMING if self.metrics is None else
                                           self.metrics.child("step_seconds", self.route.name, step.name))
        return found

    def sent(self, endpoint: Endpoint) -> None:
        if self.metrics:
            found = self._sent.get(endpoint)
            if found is None:
                found = self._sent[endpoint] = self.metrics.child("messages_out", self.route.name,
                                                                  endpoint.describe())
            found.inc()

    def count(self, metric: str, step: str) -> None:
        if self.metrics:
            self.metrics.child(metric, self.route.name, step).inc()


def _after(steps: list[Step], step: Step) -> list[Step]:
    """The main-line steps after ``step`` (aggregates in choice branches resume at the branch end)."""
    for index, candidate in enumerate(steps):
        if candidate is step:
            return steps[index + 1:]
    return []


class _Observer:
    def observe(self, _value: float) -> None:
        """No timing without metrics."""


_NO_TIMING = _Observer()
