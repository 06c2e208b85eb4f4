"""Server-rendered pages: one Jinja2 environment, the layout every page extends, and what every
template may use (who is asking, the CSRF token for forms, masking for viewers, times and ages).

Templates live in ``services/console/templates`` (autoescaped: a value from a topic can never
become markup), assets in ``services/console/static`` — shipped in the package, nothing is
fetched from the internet when a page is shown.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import Response

from bus.observability.masking import mask_field, mask_text
from services.console.auth import csrf_token, principal_of

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
STATIC = HERE / "static"

NAV = (("/", "Overview"), ("/journeys", "Journeys"), ("/dead-letters", "Dead letters"),
       ("/flow", "Flow"), ("/topics", "Topics"))


def when(value: Any) -> str:
    """A moment (epoch ms, epoch s as float, or datetime) as ``2026-12-06 08:12:03.120 UTC``."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, int):
        moment = datetime.fromtimestamp(value / 1000, UTC)
    else:
        moment = datetime.fromtimestamp(float(value), UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def age(seconds: float | None) -> str:
    """``42 s``, ``3 min``, ``5 h 10 min``, ``2 d 4 h``."""
    if seconds is None:
        return "—"
    seconds = max(0.0, float(seconds))
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
    return f"{int(seconds // 86400)} d {int(seconds % 86400 // 3600)} h"


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """``template`` rendered for the request's principal, with the layout's variables.

    The layout gets ``principal``, ``csrf_token`` (put it in every form as ``csrf_token``),
    ``nav`` and ``active`` (the first path segment), and the filters ``when``, ``age``,
    ``masked`` (personal data masked unless the principal is an operator: use it on every value
    that may hold personal data) and ``masked_text``.
    """
    principal = principal_of(request)
    section = "/" + request.url.path.strip("/").split("/", 1)[0]
    return TEMPLATES.TemplateResponse(request, template, {
        "principal": principal, "csrf_token": csrf_token(request.session), "nav": NAV,
        "active": section, **context}, status_code=status_code)


def shown(principal_is_operator: bool, key: str, value: Any) -> Any:
    """``value`` as a principal may see it: as it is for operators, masked by field name otherwise."""
    return value if principal_is_operator else mask_field(key, value)


def _masked(context: Any, value: Any, key: str = "") -> Any:
    principal = context.get("principal")
    if principal is not None and principal.operator:
        return value
    return mask_field(key, value) if key else mask_text(value) if isinstance(value, str) else value


def _install_filters() -> None:
    from jinja2 import pass_context

    env = TEMPLATES.env
    env.filters["when"] = when
    env.filters["age"] = age
    env.filters["masked"] = pass_context(_masked)
    env.filters["masked_text"] = mask_text


_install_filters()
