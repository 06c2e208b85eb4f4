"""Acceptance (issue 12): no service log written by the test suite holds the fixtures' names,
street addresses, e-mails or phone numbers.

``tests/conftest.py`` runs this module after every other test of the session (whatever was
selected), so it reads every log the session wrote: the in-process services' lines as a service
writes them, and the ``*.log`` files of every service process, all under pytest's ``basetemp``
(``tests/service_logs.py`` says where each comes from).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.service_logs import fixture_personal_data, personal_data_in, service_log_files


def test_the_needles_cover_names_addresses_e_mails_and_phones() -> None:
    needles = fixture_personal_data()
    for value in ("花子", "佐藤", "佐藤 花子", "Zoë Müller", "Siobhán", "O'Neill", "hanako.sato@example.jp",
                  "+81-90-1234-5678", "09012345678", "神宮前1丁目2\u22123", "12 Quay St"):
        assert value in needles, value


def test_the_check_finds_a_leak_and_names_where_without_repeating_it(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    log.write_text('{"message": "ok"}\n{"message": "refused customer 佐藤 花子"}\n', encoding="utf-8")
    segment = tmp_path / "orders-0" / "00000000000000000000.log"
    segment.parent.mkdir()
    segment.write_text("佐藤 花子", encoding="utf-8")
    assert service_log_files(tmp_path) == [log], "a broker's log segment holds records, not log lines"
    hits = personal_data_in([log], fixture_personal_data(), tmp_path)
    assert hits and all(h.startswith("svc.log:2: ") for h in hits)
    assert not any("花子" in h for h in hits)


def test_no_service_log_of_the_suite_holds_personal_data_of_the_fixtures(
        tmp_path_factory: pytest.TempPathFactory, service_log_sink: Path) -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()
    base = tmp_path_factory.getbasetemp()
    planted = "test_the_check_finds_a_lea"  # the leak the test above writes on purpose
    logs = [p for p in service_log_files(base) if planted not in str(p)]
    assert service_log_sink / "in-process.log" in logs
    assert (service_log_sink / "in-process.log").stat().st_size > 0, "the session logged nothing in-process"
    hits = personal_data_in(logs, fixture_personal_data(), base)
    assert not hits, f"{len(hits)} log line(s) hold personal data of the fixtures:\n" + "\n".join(hits[:50])
