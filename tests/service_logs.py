"""Every service log the test suite writes, kept where one check can read them all at the end.

Service logs come from two kinds of process:

* services run as processes by the integration tests (``tests/integration/processes.py``) write
  their stderr to ``*.log`` files: under the session's ``service-logs/`` folder
  (:func:`service_log`), a test's ``tmp_path`` (the router's crash test, the registry's) or the
  local stack's ``logs/`` folder beside it. All of them sit under pytest's ``basetemp``.
* services, handlers and edges run in-process by the unit and integration tests log through the
  root logger. :func:`service_log_sink` (a session fixture, autouse from ``tests/conftest.py``)
  writes every record at INFO and above exactly as a service writes it (the project's
  :class:`~bus.observability.logging.JsonFormatter`, masking included) to
  ``service-logs/in-process.log``.

``tests/test_service_logs.py`` reads every ``*.log`` under ``basetemp`` after all other tests
(:func:`run_last` puts it at the end of the session) and fails when one of them holds a name,
street address, e-mail or phone number of the fixtures (:func:`fixture_personal_data`).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bus.observability.logging import JsonFormatter
from simulators import FIXTURES

SERVICE_LOGS_ENV = "ECOMBUS_TEST_SERVICE_LOGS"
"""The session's ``service-logs`` folder, for helpers that start service processes."""
LAST = "tests/test_service_logs.py"
"""The module :func:`run_last` moves to the end of the session."""

_PERSONAL_KEYS = re.compile(r"^(first_name|last_name|email|phone|company|address_?[12]|street_?[12])$")
_PERSONAL_COLUMNS = re.compile(r"customer|name|e-?mail|phone|address|street", re.IGNORECASE)


def service_log(name: str) -> Path:
    """A new log file for a service process started by a test (its stderr goes there)."""
    folder = Path(os.environ.get(SERVICE_LOGS_ENV) or ".")
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        path = folder / f"{name}-{n}.log"
        if not path.exists():
            path.touch()
            return path
    raise RuntimeError(f"too many logs of {name}")


@pytest.fixture(scope="session", autouse=True)
def service_log_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Write every in-process log record of the session as a service would to ``in-process.log``."""
    folder = tmp_path_factory.getbasetemp() / "service-logs"
    folder.mkdir(parents=True, exist_ok=True)
    previous_env = os.environ.get(SERVICE_LOGS_ENV)
    os.environ[SERVICE_LOGS_ENV] = str(folder)
    handler = logging.FileHandler(folder / "in-process.log", encoding="utf-8")
    handler.setFormatter(JsonFormatter("in-process"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)  # a service's default (ECOMBUS_LOG_LEVEL=INFO)
    try:
        yield folder
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(level)
        if previous_env is None:
            os.environ.pop(SERVICE_LOGS_ENV, None)
        else:
            os.environ[SERVICE_LOGS_ENV] = previous_env


def run_last(items: list[pytest.Item]) -> None:
    """Move the tests of :data:`LAST` to the end, keeping every other test's order."""
    items.sort(key=lambda item: item.nodeid.startswith(LAST))


def _walk(value: Any, key: str, found: dict[str, str], where: str) -> None:
    if isinstance(value, dict):
        names = [value.get("first_name"), value.get("last_name")]
        if all(isinstance(n, str) and n for n in names):
            found[f"{names[0]} {names[1]}"] = f"{where}: first_name last_name"
            found[f"{names[1]} {names[0]}"] = f"{where}: last_name first_name"
        for k, v in value.items():
            _walk(v, k, found, where)
    elif isinstance(value, list):
        for v in value:
            _walk(v, key, found, where)
    elif isinstance(value, str) and len(value.strip()) >= 2 and _PERSONAL_KEYS.match(key):
        found[value] = f"{where}: {key}"
        if "phone" in key:
            digits = "".join(ch for ch in value if ch.isdigit())
            found[digits] = f"{where}: {key} (digits only)"
            if value.startswith("+81"):
                found["0" + digits[2:]] = f"{where}: {key} (national)"


def fixture_personal_data(folder: Path = FIXTURES) -> dict[str, str]:
    """Every name, street address, e-mail and phone number in the fixtures → where it comes from.

    Names are also searched as "first last" and "last first", phones also as bare digits and, for
    Japanese numbers, in national form.
    """
    found: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")):
        _walk(json.loads(path.read_text(encoding="utf-8")), "", found, path.name)
    for path in sorted(folder.glob("*.csv")):
        for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))):
            for column, value in row.items():
                if value and len(value) >= 2 and _PERSONAL_COLUMNS.search(column or ""):
                    found[value] = f"{path.name}: {column}"
    return found


_KAFKA_SEGMENT = re.compile(r"\d{20}\.log")
"""A broker's log segment (``00000000000000000000.log``): the records themselves, not a log."""


def service_log_files(base: Path) -> list[Path]:
    """Every ``*.log`` file under ``base`` but the broker's log segments (which hold the records,
    personal data included by design, not log lines)."""
    return sorted(p for p in base.rglob("*.log") if p.is_file() and not _KAFKA_SEGMENT.fullmatch(p.name))


def personal_data_in(paths: list[Path], needles: dict[str, str], base: Path) -> list[str]:
    """``<file>:<line>: <what>`` for every line of ``paths`` holding a value of ``needles``; the
    value itself is not repeated (the report must not leak it either)."""
    hits = []
    for path in paths:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, 1):
                hits += [f"{path.relative_to(base)}:{number}: {where}"
                         for needle, where in needles.items() if needle in line]
    return hits
