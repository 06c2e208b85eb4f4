"""The router's handlers on the runtime: one per source topic, dispatching to its routes.

Every Kafka-sourced route runs inside the shared consumer loop (``bus.runtime``), so delivery
semantics, retries, dead letters, audit and metrics are the runtime's. For each record the
handler runs every route reading its topic, in the routes file's order; their Kafka outputs go
to the handler's context and are produced after it returns (in the batch's transaction when
exactly-once). A route failure is raised with its route and step, so the runtime retries the
record (transient) or dead-letters it to ``dlq.router`` with ``ecombus.errors.route`` and
``ecombus.errors.step`` headers (permanent, or retries exhausted). What a route does once its
outputs are safe (aggregate groups leaving their spool, dedupe marks) runs only after the broker
acknowledged them, or the transaction holding them committed
(:meth:`~bus.runtime.handlers.Context.after_acknowledged`). Routes are deterministic, so a
retried record produces the same outputs, and file outputs recognise the record as already
spooled.

A dead letter of the router replayed for one route (header ``ecombus.replay.route``, set by
``ecombus dlq replay`` and the console from the dead letter's ``ecombus.errors.route``) runs
through that route only: the other routes reading the topic handled the record the first time.
"""

from __future__ import annotations

from typing import Any

from bus.errors import NotFound
from bus.runtime.dlq import REPLAY_ROUTE
from bus.runtime.handlers import Context, HandlerFn
from bus.runtime.hooks import RuntimeHooks
from services.router.message import Message, Origin
from services.router.metrics import RouterMetrics
from services.router.pipeline import RouteRunner


def dispatcher(runners: list[RouteRunner]) -> HandlerFn:
    """The handler of one source topic: runs each route reading it (or the one a replay names).

    Raises:
        NotFound: a replay names a route that does not read this topic (renamed or removed
            since): the record is dead-lettered again rather than run through the wrong routes.
    """

    def route_record(event: Any, ctx: Context) -> None:
        chosen = runners
        wanted = ctx.header(REPLAY_ROUTE)
        if wanted is not None:
            name = wanted.decode("utf-8", "replace")
            chosen = [r for r in runners if r.route.name == name]
            if not chosen:
                raise NotFound(f"replayed for route {name!r}, which does not read {ctx.topic}")
        headers = {k: v.decode("utf-8", "replace") for k, v in ctx.headers} if ctx.headers else {}
        headers["kafka.topic"] = ctx.topic
        headers["kafka.partition"] = str(ctx.partition)
        headers["kafka.offset"] = str(ctx.offset)
        key = ctx.key.decode("utf-8", "replace") if ctx.key is not None else None
        stream = f"{ctx.topic}/{ctx.partition}"
        done = []
        try:
            for runner in chosen:
                message, origin = Message(event, dict(headers), key), Origin(stream, ctx.offset)
                done.append(runner.handle(message, origin, ctx))
        except BaseException:
            for delivered in done:  # the record is retried or dead-lettered as a whole
                delivered.failed()
            raise
        for delivered in done:
            ctx.after_acknowledged(delivered.acknowledged)

    return route_record


class RouterHooks(RuntimeHooks):
    """The runtime's hooks, plus the router's per-route dead-letter count."""

    def __init__(self, *args: Any, router_metrics: RouterMetrics | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.router_metrics = router_metrics

    def dead_lettered(self, spec: Any, msg: Any, ctx: Any, failure: Any, seconds: float) -> None:
        super().dead_lettered(spec, msg, ctx, failure, seconds)
        if self.router_metrics is not None:
            self.router_metrics.child("dead_letters", failure.route or spec.name,
                                      failure.step or "decode").inc()
