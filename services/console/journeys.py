"""Journeys: find an order (id, storefront number, customer e-mail) and see its one timeline.

``GET /journeys?q=`` searches the index; ``GET /journeys/{order_id}`` shows the order's timeline
across services and topics, oldest first, and where it stopped: the reason and the dead letter,
linked to the page where an operator fixes and replays it. Viewers see personal data masked; a
viewer's search by e-mail still works (the e-mail is what they typed) but the results show it
masked.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bus.ops.dlq import DeadLetterInfo
from services.console.context import Console
from services.console.pages import render

MAX_QUERY = 200


def routes(console: Console) -> APIRouter:
    """The journey pages of ``console``."""
    router = APIRouter()

    @router.get("/journeys", response_class=HTMLResponse)
    def search(request: Request, q: str = "") -> Response:
        query = q.strip()[:MAX_QUERY]
        hits = console.index.search(query) if console.index is not None and query else []
        if len(hits) == 1 and query:
            return RedirectResponse(f"/journeys/{hits[0].order_id}", 303)
        return render(request, "journeys.html", query=query, hits=hits,
                      recent=console.index.latest(25) if console.index is not None and not query else [],
                      stopped=_stopped(console) if not query else [], rebuild=_rebuild(console))

    @router.get("/journeys/{order_id:path}", response_class=HTMLResponse)
    def journey(request: Request, order_id: str) -> Response:
        found = console.index.journey(order_id) if console.index is not None else None
        if found is None:
            return render(request, "journeys.html", 404, query=order_id, hits=[], recent=[],
                          missing=order_id, rebuild=_rebuild(console))
        return render(request, "journey.html", journey=found, rebuild=_rebuild(console))

    return router


def _stopped(console: Console, limit: int = 25) -> list[DeadLetterInfo]:
    """Pending dead letters that name their order, newest first: the orders stopped on the way."""
    if console.index is None:
        return []
    pending = console.index.dead_letters(pending_only=True, limit=500)
    return [d for d in reversed(pending) if d.order_id][:limit]


def _rebuild(console: Console) -> object:
    return console.tailer.progress() if console.tailer is not None else None
