"""The console's FastAPI application: sign-in, the overview, each page family's routes, assets.

Layers, outermost first: the session cookie (signed, ``HttpOnly``, ``SameSite=Strict``), then
:class:`~services.console.auth.Guard` (authentication, CSRF, security headers), then the routes.
Page families contribute an ``APIRouter`` each (``routes(console)`` in their module), so adding a
page touches its own module and its templates only.
"""

from __future__ import annotations

import importlib
import logging
import secrets
from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from services.console.auth import Accounts, Guard, csrf_token, fingerprint
from services.console.context import Console
from services.console.pages import STATIC, TEMPLATES, render

log = logging.getLogger(__name__)

PAGE_MODULES = ("journeys", "dead_letters", "flow", "topics")
"""Page families (``services/console/<name>.py`` with ``routes(console) -> APIRouter``)."""


def create_app(console: Console) -> FastAPI:
    """The application serving ``console``'s pages (nothing connects to Kafka here)."""
    settings = console.settings
    app = FastAPI(title="ecombus console", docs_url=None, redoc_url=None, openapi_url=None)
    accounts = Accounts(settings)
    app.add_middleware(Guard, accounts=accounts)
    secret = settings.session_secret.get_secret_value() or secrets.token_urlsafe(32)
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie="ecombus_console",
                       max_age=settings.session_max_age_seconds, same_site="strict",
                       https_only=settings.secure_cookies)
    app.state.console = console
    app.include_router(_sign_in(accounts))
    app.include_router(_overview(console))
    for name in PAGE_MODULES:
        try:
            module = importlib.import_module(f"services.console.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"services.console.{name}":
                raise
            continue
        app.include_router(module.routes(console))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _safe_next(target: str) -> str:
    """Where to go after signing in: a path on this console only (never another site)."""
    target = unquote(target or "/")
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def _sign_in(accounts: Accounts) -> APIRouter:
    router = APIRouter()

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/", failed: bool = False) -> Response:
        return TEMPLATES.TemplateResponse(request, "login.html", {
            "next": _safe_next(next), "failed": failed, "csrf_token": csrf_token(request.session),
            "proxy": bool(accounts.settings.proxy_user_header)}, status_code=401 if failed else 200)

    @router.post("/login")
    def login(request: Request, token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/",
              csrf: Annotated[str, Form(alias="csrf_token")] = "") -> Response:
        expected = request.session.get("csrf")
        principal = accounts.by_token(token.strip())
        if not expected or not secrets.compare_digest(str(expected), csrf) or principal is None:
            log.warning("sign-in refused (%s)", "stale form" if principal else "unknown token")
            return RedirectResponse(f"/login?failed=1&next={_safe_next(next)}", 303)
        request.session.clear()
        request.session["account"] = fingerprint(token.strip())
        csrf_token(request.session)  # a fresh CSRF token for the new session
        log.info("%s signed in (%s)", principal.user, principal.role)
        return RedirectResponse(_safe_next(next), 303)

    @router.post("/logout")
    def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", 303)

    return router


def _overview(console: Console) -> APIRouter:
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse)
    def overview(request: Request) -> Response:
        index, tailer = console.index, console.tailer
        return render(request, "overview.html",
                      stats=index.stats() if index is not None else None,
                      rebuild=tailer.progress() if tailer is not None else None,
                      gap=index.erp_gap(int(console.clock() * 1000)) if index is not None else None,
                      dead=index.dead_letter_summary() if index is not None else [])

    return router
