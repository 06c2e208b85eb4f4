"""Dead letters: counted per service and reason, one decoded, and put back (replay, edit-and-replay).

Pages::

    GET  /dead-letters                              pending per service and reason, oldest age
    GET  /dead-letters/<service>                    the list (?reason= &handler= &route= &key= &all=1)
    GET  /dead-letters/<topic>/<partition>/<offset> one: value decoded, every header, reason, origin
    GET  /dead-letters/<topic>/<partition>/<offset>/edit   its value as text to fix (operators)
    POST /dead-letters/<topic>/<partition>/<offset>/edit   check the edit; preview, or replay it
    POST /dead-letters/replay-preview               what replaying one (id), a selection (id, id...)
                                                    or a filter (service + criteria) will produce
    POST /dead-letters/replay                       the previewed replay, confirmed: starts a job
    GET  /dead-letters/replays/<job>                how that replay goes

Viewers read, with personal data masked; every POST here and the editor answer them 403 (the
:class:`~services.console.auth.Guard` has already refused any POST without the CSRF token). A
replay is always previewed first and produces nothing until confirmed; then it runs as a job at
the console's rate (:mod:`.dead_letter_replays`). Rows come from :mod:`.dead_letter_source`.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from bus.errors import BusError, ConfigError, InvalidInput, TransientError
from bus.ops import avro_json
from bus.ops import dlq as dlq_ops
from bus.ops.decoding import Decoded, decode_key
from bus.ops.editing import RAW_DELIVERY, parse_json, pretty
from bus.ops.replay import Position, Replay
from bus.runtime.handlers import Headers
from services.console.auth import principal_of
from services.console.context import Console
from services.console.dead_letter_replays import Replays, Unavailable
from services.console.dead_letter_source import Criteria, DeadLetterSource
from services.console.pages import render, shown

PAGE = 100
PREVIEW_SHOWN = 20
"""Replays shown in full in a preview (all of them are counted and listed)."""


@dataclass(frozen=True)
class Shown:
    """A record as a page shows it: where it goes, its key and headers as text, its value as JSON text."""

    topic: str
    key: str | None
    headers: list[tuple[str, str]]
    value: str
    kind: str
    problem: str | None = None


class _Answering(APIRoute):
    """A route whose trouble with Kafka or the registry becomes a page saying so, not a bare 500."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except TransientError as exc:
                return _problem(request, 503, f"Kafka or the schema registry did not answer: {exc}. "
                                "Try again in a moment.")
            except ConfigError as exc:  # e.g. a dead-letter topic that does not exist
                return _problem(request, 404, str(exc))

        return answer


def _problem(request: Request, status: int, message: str) -> Response:
    return render(request, "dead_letters_problem.html", status_code=status, message=message)


def routes(console: Console) -> APIRouter:
    """The dead-letter pages of ``console``."""
    router = APIRouter(route_class=_Answering)
    source = DeadLetterSource(console)
    replays = Replays(console, source)

    def refused(request: Request) -> Response | None:
        if principal_of(request).operator:
            return None
        return _problem(request, 403, "Replaying and editing dead letters is for operators.")

    def show(request: Request, topic: str, key: bytes | None, headers: Headers, value: bytes | None) -> Shown:
        operator = principal_of(request).operator
        decoded = replays.decode(topic, value)
        return Shown(topic, shown(operator, "key", decode_key(key)),
                     [(name, shown(operator, name, decode_key(data) or "")) for name, data in headers],
                     _value_text(console, decoded, operator), decoded.kind, decoded.problem)

    @router.get("/dead-letters", response_class=HTMLResponse)
    def summary(request: Request) -> Response:
        groups = source.summary()
        totals = Counter[str]()
        for group in groups:
            totals[group.service] += group.pending
        return render(request, "dead_letters.html", groups=groups, indexed=source.indexed,
                      services=[(s, totals[s]) for s in console.settings.dlq_services],
                      rebuild=_rebuild(console))

    @router.get("/dead-letters/replays/{job_id}", response_class=HTMLResponse)
    def job_page(request: Request, job_id: str) -> Response:
        job = replays.jobs.get(job_id)
        if job is None:
            return _problem(request, 404, "No such replay here (this console keeps its last 50 replays "
                           "until it restarts; the audit topic keeps them all).")
        return render(request, "dead_letters_job.html", job=job, progress=job.progress)

    @router.get("/dead-letters/{service}", response_class=HTMLResponse)
    def service_page(request: Request, service: str, reason: str = "", handler: str = "",
                     route: str = "", key: str = "", all: bool = False, offset: int = 0) -> Response:
        if service not in console.settings.dlq_services:
            return _problem(request, 404, f"No dead letters are shown for {service!r}.")
        criteria = Criteria(service, reason or None, handler or None, route or None, key or None)
        rows = source.rows(criteria, pending_only=not all, limit=PAGE, offset=max(0, offset))
        return render(request, "dead_letters_service.html", service=service, criteria=criteria,
                      rows=rows, reasons=[g.reason for g in source.summary(service)], show_all=all,
                      offset=offset, page=PAGE, indexed=source.indexed, rebuild=_rebuild(console))

    @router.get("/dead-letters/{topic}/{partition}/{offset}", response_class=HTMLResponse)
    def dead_letter(request: Request, topic: str, partition: int, offset: int) -> Response:
        where = source.position(f"{topic}/{partition}/{offset}")
        record = source.records([where]).get(where) if where else None
        if where is None or record is None:
            return _problem(request, 404, f"No dead letter at {topic}/{partition}/{offset}.")
        info = dlq_ops.info_of(record)
        row = source.rows_at([where]).get(where) if source.indexed else info
        view = show(request, info.original_topic or topic, record.key, record.headers, record.value)
        order_id = getattr(row, "order_id", None)
        return render(request, "dead_letters_record.html", where=where, info=info, row=row,
                      view=view, timestamp_ms=record.timestamp_ms,
                      order_id=shown(principal_of(request).operator, "order_id", order_id))

    @router.get("/dead-letters/{topic}/{partition}/{offset}/edit", response_class=HTMLResponse)
    def edit_form(request: Request, topic: str, partition: int, offset: int) -> Response:
        return edit(request, topic, partition, offset, None, "form")

    @router.post("/dead-letters/{topic}/{partition}/{offset}/edit", response_class=HTMLResponse)
    def edit_post(request: Request, topic: str, partition: int, offset: int,
                  text: Annotated[str, Form()] = "", action: Annotated[str, Form()] = "preview") -> Response:
        text = text.replace("\r\n", "\n")  # browsers send a textarea's line ends as CRLF
        return edit(request, topic, partition, offset, text, "replay" if action == "replay" else "preview")

    def edit(request: Request, topic: str, partition: int, offset: int, text: str | None,
             step: str) -> Response:
        if (no := refused(request)) is not None:
            return no
        where = source.position(f"{topic}/{partition}/{offset}")
        record = source.records([where]).get(where) if where else None
        if where is None or record is None:
            return _problem(request, 404, f"No dead letter at {topic}/{partition}/{offset}.")
        info = dlq_ops.info_of(record)
        original, editable = replays.editable(record, info.original_topic or topic)
        context: dict[str, Any] = {"where": where, "info": info, "editable": editable,
                                   "original": _value_text(console, original, True),
                                   "text": editable.text if text is None else text}
        if text is None:
            return render(request, "dead_letters_edit.html", **context)
        user = principal_of(request).user
        try:
            replay = replays.replay_of(record, user, value=editable.rebuild(text))
        except (InvalidInput, BusError) as exc:
            return render(request, "dead_letters_edit.html", status_code=422, error=str(exc), **context)
        if step == "replay":
            return started(request, lambda: replays.start_edited(replay, user))
        return render(request, "dead_letters_edit.html", preview=preview_of(request, replay), **context)

    def preview_of(request: Request, replay: Replay) -> Shown:
        return show(request, replay.topic, replay.key, replay.headers, replay.value)

    def started(request: Request, start: Any) -> Response:
        try:
            job = start()
        except Unavailable as exc:
            return _problem(request, 503, str(exc))
        return RedirectResponse(f"/dead-letters/replays/{job.id}", 303)

    @router.post("/dead-letters/replay-preview", response_class=HTMLResponse)
    def replay_preview(request: Request, ids: Annotated[list[str] | None, Form(alias="id")] = None,
                       service: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "",
                       handler: Annotated[str, Form()] = "", route: Annotated[str, Form()] = "",
                       key: Annotated[str, Form()] = "") -> Response:
        if (no := refused(request)) is not None:
            return no
        limit = console.settings.replay_max_records
        criteria, found = None, []
        if ids:
            positions = [source.position(i) for i in ids]
            if None in positions:
                return _problem(request, 400, "Only dead letters of the services this console shows "
                               "can be replayed.")
            chosen = [p for p in positions if p is not None]
            if len(chosen) > limit:
                return _problem(request, 400, f"At most {limit} dead letters are replayed at once.")
            rows = source.rows_at(chosen)
        elif service in console.settings.dlq_services:
            criteria = Criteria(service, reason or None, handler or None, route or None, key or None)
            found = source.rows(criteria, pending_only=True, limit=limit + 1)
            rows = {Position(r.topic, r.partition, r.offset): r for r in found[:limit]}
            chosen = list(rows)
        else:
            return _problem(request, 400, "Choose dead letters to replay, or a service and a filter.")
        records = source.records(chosen[:PREVIEW_SHOWN])
        samples, problems, user = [], [], principal_of(request).user
        for where in chosen[:PREVIEW_SHOWN]:
            try:
                samples.append((where, preview_of(request, replays.replay_of(records[where], user))))
            except KeyError:
                problems.append(f"{where}: no longer in its topic")
            except BusError as exc:
                problems.append(f"{where}: {exc}")
        targets = Counter((getattr(rows.get(p), "original_topic", None) or "?") for p in chosen)
        return render(request, "dead_letters_preview.html", positions=chosen, rows=rows, samples=samples,
                      problems=problems, targets=sorted(targets.items()), criteria=criteria,
                      truncated=criteria is not None and len(found) > limit, limit=limit,
                      rate=console.settings.replay_rate_per_second,
                      seconds=len(chosen) / console.settings.replay_rate_per_second,
                      ids=" ".join(str(p) for p in chosen))

    @router.post("/dead-letters/replay")
    def replay(request: Request, ids: Annotated[str, Form()] = "") -> Response:
        if (no := refused(request)) is not None:
            return no
        positions = [source.position(i) for i in ids.split()]
        chosen = [p for p in positions if p is not None]
        if not chosen or len(chosen) != len(positions):
            return _problem(request, 400, "Nothing to replay (or not a dead letter of this console's "
                           "services).")
        limit = console.settings.replay_max_records
        if len(chosen) > limit:
            return _problem(request, 400, f"At most {limit} dead letters are replayed at once.")
        user = principal_of(request).user
        return started(request, lambda: replays.start(chosen, user))

    return router


def _value_text(console: Console, decoded: Decoded, operator: bool) -> str:
    """A decoded value as JSON text (Avro schema-guided; a RawDelivery's JSON body as JSON), masked
    for viewers."""
    if decoded.kind == "empty":
        return "(no value: a tombstone)"
    value = decoded.value
    if decoded.kind == "avro" and console.decoder is not None and decoded.schema_id is not None:
        schema = console.decoder.writer_schema(decoded.schema_id)
        value = avro_json.to_json(schema, value)
        body = value.get("body") if isinstance(value, dict) else None
        if str(schema.get("name")) == RAW_DELIVERY and isinstance(body, str):
            with contextlib.suppress(InvalidInput):  # a body that is not JSON stays text
                value["body"] = parse_json(body)
    if decoded.kind in ("text", "bytes"):
        return str(shown(operator, "value", value)) if decoded.kind == "text" else str(value)
    return pretty(shown(operator, "value", value))


def _rebuild(console: Console) -> Any:
    return console.tailer.progress() if console.tailer is not None else None
