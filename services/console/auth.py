"""Who is asking, what they may do, and that a state-changing request really comes from our page.

:class:`Guard` is the console's outermost application layer (inside the session cookie's):
every request but the sign-in page is authenticated first, so nothing — a page, an asset, an
error page — is served to an anonymous caller. A browser asking for a page is sent to ``/login``
(303); anything else gets 401 with no body beyond the word.

A request is authenticated, in this order, by:

1. the proxy's user header (OIDC through oauth2-proxy or an ingress), believed only from a
   trusted proxy address; the groups header makes an operator;
2. ``Authorization: Bearer <token>`` (scripts; no cookie, so no CSRF exposure);
3. the session cookie set by ``POST /login`` (a token typed by a person). The session remembers a
   fingerprint of the token, so removing an account ends its sessions at once.

CSRF: every state-changing request (POST, PUT, PATCH, DELETE) authenticated by a cookie or a
proxy must carry the session's CSRF token, in the form field ``csrf_token`` or the header
``X-CSRF-Token``, and an ``Origin`` (when the browser sends one) equal to the console's own.
The check happens here, before any route, so no route can forget it.

Every answer carries a strict Content-Security-Policy (only our own scripts and styles), no
framing, no caching of pages, and no referrer beyond our origin.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from services.console.settings import ConsoleSettings, Role

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/login"})
"""Served without authentication: the sign-in form and its POST (nothing else)."""
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_FORM_BYTES = 8 * 1024 * 1024
"""A state-changing request's body is read whole to check its CSRF token (an edited payload can
be as large as a message: 5 MiB on the intake topics)."""
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                 b"script-src 'self'; frame-ancestors 'none'; form-action 'self'; "
                                 b"base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


@dataclass(frozen=True)
class Principal:
    """The person or script behind a request.

    Attributes:
        user: their name (account name, or the proxy's user header); recorded on replays.
        role: ``viewer`` or ``operator``.
        via: ``proxy``, ``bearer`` or ``session`` (bearer requests need no CSRF token).
    """

    user: str
    role: Role
    via: str

    @property
    def operator(self) -> bool:
        return self.role == "operator"


def fingerprint(token: str) -> str:
    """What a session remembers of the token it was opened with (never the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class Accounts:
    """Token and proxy-header authentication from :class:`ConsoleSettings`."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self._by_token = {a.token.get_secret_value(): a for a in settings.tokens}
        self._by_fingerprint = {fingerprint(t): a for t, a in self._by_token.items()}
        self._proxies = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]

    def by_token(self, token: str) -> Principal | None:
        """The account holding ``token`` (compared in constant time against each)."""
        found = None
        for known, account in self._by_token.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                found = account
        return Principal(found.user, found.role, "bearer") if found else None

    def by_session(self, session: MutableMapping[str, Any]) -> Principal | None:
        """The account a session cookie was opened for, if it still exists."""
        if session.get("proxy_user"):
            return None  # a proxy session only carries the CSRF token; the header says who
        account = self._by_fingerprint.get(str(session.get("account", "")))
        return Principal(account.user, account.role, "session") if account else None

    def by_proxy(self, headers: Headers, peer: str | None) -> Principal | None:
        """The proxy's user, when the proxy header is configured, present and from a trusted peer."""
        name = self.settings.proxy_user_header
        if not name or not headers.get(name):
            return None
        if not self._trusted(peer):
            log.warning("ignored the %s header from an untrusted address", name)
            return None
        listed = headers.get(self.settings.proxy_groups_header or "x-none", "")
        groups = {g.strip() for g in listed.split(",")}
        role: Role = "operator" if groups & set(self.settings.operator_groups) else "viewer"
        return Principal(headers[name].strip()[:200], role, "proxy")

    def _trusted(self, peer: str | None) -> bool:
        try:
            address = ipaddress.ip_address(peer or "")
        except ValueError:
            return False
        return any(address in network for network in self._proxies)


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's CSRF token, created on first use."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def principal_of(request: Request) -> Principal:
    """The authenticated principal :class:`Guard` put on the request."""
    principal: Principal = request.scope["principal"]
    return principal


class Guard:
    """ASGI middleware: authentication, CSRF, security headers (module docstring)."""

    def __init__(self, app: ASGIApp, accounts: Accounts) -> None:
        self.app, self.accounts = app, accounts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_security_headers(send)
        request = Request(scope)
        if scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        principal = self._authenticate(request)
        if principal is None:
            await _unauthenticated(request)(scope, receive, send)
            return
        scope["principal"] = principal
        if scope["method"] in UNSAFE_METHODS and principal.via != "bearer":
            body = await _read_body(receive)
            if body is None:
                await PlainTextResponse("request too large", 413)(scope, receive, send)
                return
            problem = _csrf_problem(request, body)
            if problem:
                log.warning("refused a %s %s: %s", scope["method"], scope["path"], problem)
                await PlainTextResponse(f"forbidden: {problem}; reload the page and try again",
                                        403)(scope, receive, send)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    def _authenticate(self, request: Request) -> Principal | None:
        peer = request.client.host if request.client else None
        principal = self.accounts.by_proxy(request.headers, peer)
        if principal:
            request.session["proxy_user"] = principal.user
            return principal
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            return self.accounts.by_token(authorization[7:].strip())
        return self.accounts.by_session(request.session)


def _unauthenticated(request: Request) -> Response:
    if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", 303)
    return PlainTextResponse("unauthenticated", 401, headers={"www-authenticate": "Bearer"})


def _csrf_problem(request: Request, body: bytes) -> str | None:
    origin = request.headers.get("origin")
    if origin and origin != f"{request.url.scheme}://{request.headers.get('host', '')}":
        return "the request comes from another site"
    expected = request.session.get("csrf")
    sent = request.headers.get("x-csrf-token")
    media_type = request.headers.get("content-type", "")
    if sent is None and media_type.startswith("application/x-www-form-urlencoded"):
        sent = next(iter(parse_qs(body.decode("latin-1")).get("csrf_token", [])), None)
    if sent is None and media_type.startswith("multipart/form-data"):
        return "forms are sent url-encoded"
    if not expected or not sent or not hmac.compare_digest(str(expected).encode(), sent.encode()):
        return "missing or wrong CSRF token"
    return None


async def _read_body(receive: Receive) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, then: Receive) -> Receive:
    """A ``receive`` that hands the already-read body to the app, then the client's own events."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await then()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _with_security_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            message["headers"] = [*message.get("headers", []),
                                  *(h for h in SECURITY_HEADERS if h[0] not in present)]
        await send(message)

    return wrapped
