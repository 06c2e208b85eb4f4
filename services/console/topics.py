"""The topics pages: ``/topics`` lists the topics (``?internal=1`` adds Kafka's, the registry's and
the services' internal ones), ``/topics/<name>`` browses one decoded.

Browsing parameters (all optional; a wrong one answers 400 naming it, never 500):

* ``partition`` (default: all), ``offset`` (needs ``partition``: read forward from it), or ``since``
  (a time, ISO 8601 in UTC or epoch milliseconds: read forward from it in every partition);
  with neither, the newest records.
* ``order``: ``newest`` (first) or ``oldest``; ``limit``: records per page, 1 to 500 (50).
* ``key`` (exact) and ``field`` (``path=value``, exact; :mod:`.record_filter`). Filters scan at
  most :data:`~.topic_reader.MAX_SCAN` records per page; the page says how many and how to go on.
* ``at`` and ``dir``: where the page's *older*/*newer* links continue (``0:120,1:98`` and
  ``forward`` or ``backward``).

Viewers see personal data masked (:mod:`.record_view`) and may not filter on it (403 saying why).
Reading happens in the request's worker thread (FastAPI runs ``def`` endpoints in a thread pool),
within the reader's time budget, so a slow topic never holds up another page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bus.errors import BusError, Forbidden, InvalidInput, NotFound, TransientError
from services.console.auth import principal_of
from services.console.context import Console
from services.console.pages import render
from services.console.record_filter import Filter
from services.console.record_view import view
from services.console.topic_reader import Browse, Direction, Page, TopicReader

TOPIC_READER = "topic_reader"
"""The reader's name in ``console.extras`` (one is made from ``console.client`` when absent)."""
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_AT = re.compile(r"\d+:\d+(,\d+:\d+)*")


@dataclass(frozen=True)
class BrowseQuery:
    """A browse request's parameters, checked (module docstring)."""

    partition: int | None = None
    offset: int | None = None
    since_ms: int | None = None
    at: dict[int, int] | None = None
    direction: Direction = "backward"
    newest_first: bool = True
    limit: int = DEFAULT_LIMIT
    filter: Filter = field(default_factory=Filter)

    @classmethod
    def parse(cls, params: dict[str, str]) -> BrowseQuery:
        """Raises :class:`InvalidInput` naming the first wrong parameter."""
        partition = _whole(params, "partition")
        offset = _whole(params, "offset")
        limit = _whole(params, "limit")
        if limit is not None and not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit: records per page, from 1 to {MAX_LIMIT}", field="limit")
        if offset is not None and partition is None:
            raise InvalidInput("offset: choose a partition too (offsets are per partition)", field="offset")
        since = _moment(params.get("since", "").strip())
        if offset is not None and since is not None:
            raise InvalidInput("offset and since: give one or the other", field="since")
        at = _positions(params.get("at", "").strip())
        starts = offset is not None or since is not None
        direction = params.get("dir") or ("forward" if starts else "backward")
        if direction not in ("forward", "backward"):
            raise InvalidInput("dir: forward or backward", field="dir")
        order = params.get("order") or ("newest" if direction == "backward" and at is None else "oldest")
        if order not in ("newest", "oldest"):
            raise InvalidInput("order: newest or oldest", field="order")
        wanted = Filter.parse(params.get("key"), params.get("field"))
        return cls(partition, offset, since, at, "forward" if direction == "forward" else "backward",
                   order == "newest", limit or DEFAULT_LIMIT, wanted)

    def positions(self, browse: Browse) -> dict[int, int]:
        """Where the page starts in each partition read. Raises :class:`InvalidInput` for a partition
        the topic lacks."""
        known = sorted(browse.watermarks)
        wanted = sorted(self.at) if self.at is not None else [self.partition] if self.partition is not None \
            else known
        for p in wanted:
            if p not in browse.watermarks:
                name = "at" if self.at is not None else "partition"
                has = (f"partition {known[0]} only" if len(known) == 1
                       else f"partitions {known[0]} to {known[-1]}")
                raise InvalidInput(f"{name}: {browse.topic} has {has}, not {p}", field=name)
        if self.at is not None:
            return dict(self.at)
        if self.offset is not None:
            return dict.fromkeys(wanted, self.offset)
        if self.since_ms is not None:
            return browse.offsets_at(wanted, self.since_ms)
        return {p: browse.watermarks[p][1] for p in wanted}

    def link(self, at: dict[int, int], direction: Direction) -> str:
        """The query string of the page continuing from ``at`` in ``direction``, same filters."""
        params = {"at": ",".join(f"{p}:{o}" for p, o in sorted(at.items())), "dir": direction,
                  "order": "newest" if self.newest_first else "oldest", "limit": str(self.limit)}
        if self.partition is not None:
            params["partition"] = str(self.partition)
        if self.filter.key is not None:
            params["key"] = self.filter.key
        if self.filter.path:
            params["field"] = self.filter.text()
        return "?" + urlencode(params)


def _whole(params: dict[str, str], name: str) -> int | None:
    text = params.get(name, "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise InvalidInput(f"{name}: a whole number from 0, not {text[:40]!r}", field=name)
    return int(text)


def _moment(text: str) -> int | None:
    """``since`` as epoch ms: digits are epoch ms already, anything else ISO 8601 (UTC unless it says)."""
    if not text:
        return None
    if text.isascii() and text.isdigit() and len(text) <= 15:
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput("since: a time such as 2026-01-02T03:04:05Z (UTC) or epoch milliseconds",
                           field="since") from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


def _positions(text: str) -> dict[int, int] | None:
    if not text:
        return None
    if not _AT.fullmatch(text) or len(text) > 4000:
        raise InvalidInput("at: partition:offset pairs separated by commas, e.g. 0:120,1:98", field="at")
    return {int(p): int(o) for p, o in (pair.split(":") for pair in text.split(","))}


def routes(console: Console) -> APIRouter:
    """``/topics`` and ``/topics/<name>``, reading through ``console.extras["topic_reader"]``
    (a :class:`TopicReader` on ``console.client`` is put there when absent)."""
    router = APIRouter()
    reader = console.extras.get(TOPIC_READER)
    if not isinstance(reader, TopicReader):
        reader = console.extras[TOPIC_READER] = TopicReader(console.client, console.decoder)

    @router.get("/topics", response_class=HTMLResponse)
    def topic_list(request: Request, internal: bool = False) -> Response:
        try:
            topics = reader.topics()
        except TransientError as exc:
            return render(request, "topics.html", 503, topics=[], problem=str(exc), internal=internal,
                          hidden=0)
        shown = [t for t in topics if internal or not t.internal]
        return render(request, "topics.html", topics=shown, internal=internal, problem=None,
                      hidden=len(topics) - len(shown))

    @router.get("/topics/{name}", response_class=HTMLResponse)
    def topic_page(request: Request, name: str) -> Response:
        params = dict(request.query_params)
        operator = principal_of(request).operator
        context: dict[str, Any] = {"topic": name, "params": params, "page": None, "records": [],
                                   "query": None, "watermarks": {}}
        try:
            query = context["query"] = BrowseQuery.parse(params)
            refusal = None if operator else query.filter.personal()
            if refusal:
                raise Forbidden(f"viewers may not filter on personal data: {refusal}. Ask an operator, "
                                "or filter on something else (an order id, a status)")
            with reader.open(name) as browse:
                context["watermarks"] = browse.watermarks
                page = browse.page(query.positions(browse), query.direction, query.limit, query.filter)
        except BusError as exc:
            return render(request, "topics_browse.html", _status(exc), problem=str(exc), **context)
        shown = reversed(page.records) if query.newest_first else page.records
        context.update(page=page, records=[view(r, operator) for r in shown],
                       older=query.link(page.lower, "backward"), newer=query.link(page.upper, "forward"),
                       continue_dir=_continuing(query, page))
        return render(request, "topics_browse.html", problem=None, **context)

    return router


def _status(exc: BusError) -> int:
    for kind, status in ((InvalidInput, 400), (Forbidden, 403), (NotFound, 404), (TransientError, 503)):
        if isinstance(exc, kind):
            return status
    return 500


def _continuing(query: BrowseQuery, page: Page) -> str | None:
    """Which link continues a scan a budget stopped: ``older`` or ``newer``; None when none stopped."""
    if page.stopped is None:
        return None
    return "newer" if query.direction == "forward" else "older"
