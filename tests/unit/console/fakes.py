"""A console application without Kafka: settings with two accounts, no index, fixed clock."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient

from services.console.app import create_app
from services.console.context import Console
from services.console.settings import ConsoleSettings

OPERATOR_TOKEN = "operator-token-0123456789"
VIEWER_TOKEN = "viewer-token-0123456789ab"
ACCOUNTS = json.dumps([{"user": "ana", "role": "operator", "token": OPERATOR_TOKEN},
                       {"user": "vic", "role": "viewer", "token": VIEWER_TOKEN}])


def console(**settings: Any) -> Console:
    return Console(ConsoleSettings(**{"tokens": ACCOUNTS, **settings}), client={}, decoder=None,
                   clock=lambda: 1e9)


def client(c: Console | None = None) -> TestClient:
    return TestClient(create_app(c or console()), base_url="http://console.test")


def signed_in(token: str, c: Console | None = None) -> TestClient:
    """A browser-like client that signed in on /login with ``token``."""
    browser = client(c)
    form = browser.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf, "the sign-in form carries a CSRF token"
    answer = browser.post("/login", data={"token": token, "csrf_token": csrf.group(1), "next": "/"},
                          follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
    return browser


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)
