"""Nothing is served without authentication; roles; CSRF on every state-changing request."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from services.console.settings import ConsoleSettings
from tests.unit.console.fakes import OPERATOR_TOKEN, VIEWER_TOKEN, client, console, csrf_of, signed_in


@pytest.mark.parametrize("path", ["/", "/journeys", "/static/console.css", "/no-such-page", "/dead-letters"])
def test_an_anonymous_request_gets_nothing(path: str) -> None:
    answer = client().get(path, follow_redirects=False)
    assert answer.status_code == 401
    assert answer.text == "unauthenticated"
    browser = client().get(path, headers={"accept": "text/html"}, follow_redirects=False)
    assert browser.status_code == 303 and browser.headers["location"].startswith("/login?next=")
    assert browser.content == b""


def test_an_anonymous_post_gets_nothing_and_changes_nothing() -> None:
    answer = client().post("/logout", data={"x": "1"}, follow_redirects=False)
    assert answer.status_code == 401


def test_signing_in_with_a_token_opens_a_session_with_the_account_role() -> None:
    operator = signed_in(OPERATOR_TOKEN)
    page = operator.get("/")
    assert page.status_code == 200
    assert 'data-testid="role">operator<' in page.text and ">ana<" in page.text
    viewer = signed_in(VIEWER_TOKEN)
    assert 'data-testid="role">viewer<' in viewer.get("/").text


def test_a_wrong_token_is_refused_and_says_so() -> None:
    browser = client()
    csrf = csrf_of(browser.get("/login").text)
    answer = browser.post("/login", data={"token": "not-a-token-at-all", "csrf_token": csrf})
    assert answer.status_code == 401 and "not known" in answer.text
    assert browser.get("/", follow_redirects=False).status_code == 401


def test_sign_in_needs_the_form_s_csrf_token() -> None:
    browser = client()
    browser.get("/login")
    answer = browser.post("/login", data={"token": OPERATOR_TOKEN, "csrf_token": "forged"},
                          follow_redirects=False)
    assert "failed=1" in answer.headers["location"]
    assert browser.get("/", follow_redirects=False).status_code == 401


def test_a_bearer_token_authenticates_a_script() -> None:
    answer = client().get("/", headers={"authorization": f"Bearer {VIEWER_TOKEN}"})
    assert answer.status_code == 200 and 'data-testid="role">viewer<' in answer.text
    assert client().get("/", headers={"authorization": "Bearer nope-nope-nope-nope"}).status_code == 401


def test_a_state_changing_request_without_the_csrf_token_is_refused() -> None:
    browser = signed_in(OPERATOR_TOKEN)
    assert browser.post("/logout", data={}, follow_redirects=False).status_code == 403
    assert browser.post("/logout", data={"csrf_token": "guess"}, follow_redirects=False).status_code == 403
    assert browser.get("/").status_code == 200, "still signed in: the forged sign-out did nothing"
    token = csrf_of(browser.get("/").text)
    other_site = browser.post("/logout", data={"csrf_token": token}, headers={"origin": "https://evil.example"},
                              follow_redirects=False)
    assert other_site.status_code == 403
    answer = browser.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303
    assert browser.get("/", follow_redirects=False).status_code == 401, "signed out"


def test_removing_an_account_ends_its_sessions() -> None:
    browser = signed_in(OPERATOR_TOKEN)
    cookie = browser.cookies.get("ecombus_console")
    remaining = json.dumps([{"user": "vic", "role": "viewer", "token": VIEWER_TOKEN}])
    later = client(console(tokens=remaining, session_secret="s" * 32))
    earlier = signed_in(OPERATOR_TOKEN, console(session_secret="s" * 32))
    later.cookies.set("ecombus_console", earlier.cookies.get("ecombus_console") or "")
    assert later.get("/", follow_redirects=False).status_code == 401
    assert cookie


def test_the_proxy_header_from_an_untrusted_peer_authenticates_nobody() -> None:
    c = console(proxy_user_header="X-Forwarded-Email", proxy_groups_header="X-Forwarded-Groups",
                operator_groups="sre", trusted_proxies="10.0.0.0/8")
    answer = client(c).get("/", headers={"x-forwarded-email": "ana@example.com", "x-forwarded-groups": "sre"})
    assert answer.status_code == 401  # the test client's peer is not in 10.0.0.0/8


def test_proxy_roles_come_from_the_groups() -> None:
    from starlette.datastructures import Headers

    from services.console.auth import Accounts
    accounts = Accounts(ConsoleSettings(proxy_user_header="X-Forwarded-Email",
                                        proxy_groups_header="X-Forwarded-Groups",
                                        operator_groups="sre,oncall"))
    headers = Headers({"x-forwarded-email": "ana@example.com", "x-forwarded-groups": "staff, oncall"})
    assert accounts.by_proxy(headers, "127.0.0.1").role == "operator"  # type: ignore[union-attr]
    viewer = Headers({"x-forwarded-email": "vic@example.com", "x-forwarded-groups": "staff"})
    assert accounts.by_proxy(viewer, "127.0.0.1").role == "viewer"  # type: ignore[union-attr]
    assert accounts.by_proxy(headers, "192.0.2.7") is None, "not from the trusted proxy"
    assert accounts.by_proxy(Headers({}), "127.0.0.1") is None


def test_every_answer_carries_the_security_headers() -> None:
    answer = signed_in(VIEWER_TOKEN).get("/")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    cookie = client().get("/login").headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()


def test_after_sign_in_only_a_path_on_the_console_is_followed() -> None:
    browser = client()
    csrf = csrf_of(browser.get("/login").text)
    answer = browser.post("/login", follow_redirects=False,
                          data={"token": VIEWER_TOKEN, "csrf_token": csrf, "next": "//evil.example/x"})
    assert answer.headers["location"] == "/"


def test_the_console_refuses_to_start_without_authentication() -> None:
    with pytest.raises(ValidationError, match="serves nothing without authentication"):
        ConsoleSettings()
    with pytest.raises(ValidationError, match="16 characters"):
        ConsoleSettings(tokens=json.dumps([{"user": "a", "role": "operator", "token": "short"}]))
    with pytest.raises(ValidationError, match="role must be"):
        ConsoleSettings(tokens=json.dumps([{"user": "a", "role": "admin", "token": "x" * 20}]))
