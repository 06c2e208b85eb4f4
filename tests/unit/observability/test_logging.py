"""JSON log lines: fields, context from extra=, and masking of personal data."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bus.observability.logging import configure_logging
from bus.observability.masking import mask_text, mask_value


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("crm-updater", "DEBUG", stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def last(stream: io.StringIO) -> dict:
    return json.loads(stream.getvalue().splitlines()[-1])


def test_a_line_is_json_with_the_service_and_context_fields(lines: io.StringIO) -> None:
    logging.getLogger("services.crm").info(
        "upserted %s", "customer", extra={"event_id": "e-1", "correlation_id": "c-1",
                                          "topic": "customers.profiles.v1", "partition": 2, "offset": 41},
    )
    line = last(lines)
    assert line["level"] == "INFO" and line["service"] == "crm-updater" and line["logger"] == "services.crm"
    assert line["message"] == "upserted customer"
    assert line["ts"].endswith("+00:00")
    assert {k: line[k] for k in ("event_id", "correlation_id", "topic", "partition", "offset")} == {
        "event_id": "e-1", "correlation_id": "c-1", "topic": "customers.profiles.v1",
        "partition": 2, "offset": 41}


def test_configuring_twice_does_not_double_lines(lines: io.StringIO) -> None:
    second = io.StringIO()
    handler = configure_logging("crm-updater", "INFO", stream=second)
    try:
        logging.getLogger("x").warning("once")
        assert lines.getvalue() == ""
        assert len(second.getvalue().splitlines()) == 1
    finally:
        logging.getLogger().removeHandler(handler)


def test_emails_and_phones_are_masked_in_the_message_and_japanese_stays_intact(lines: io.StringIO) -> None:
    text = "注文 #1001 山田太郎様 yamada.taro@example.jp 電話 090-1234-5678 東京都渋谷区"
    logging.getLogger("x").info(text)
    raw = lines.getvalue()
    assert "yamada.taro" not in raw and "1234-5678" not in raw
    assert last(lines)["message"] == "注文 #1001 山田太郎様 y***@example.jp 電話 ***-****-**78 東京都渋谷区"
    assert "\\u" not in raw  # written as UTF-8, not escaped


def test_personal_fields_in_extras_are_masked_recursively(lines: io.StringIO) -> None:
    customer = {
        "name": "王小明", "email": "xiaoming@example.cn", "phone": "+86 138 0013 8000",
        "shipping_address": {"address1": "1-2-3 Jingumae", "address2": "Apt 4", "city": "東京",
                             "zip": "150-0001"},
        "notes": ["call +1 (555) 010-9999 after 5pm"],
    }
    logging.getLogger("x").info("customer", extra={"customer": customer, "contact_email": "ann@shop.com"})
    line = last(lines)
    assert line["contact_email"] == "a***@shop.com"
    assert line["customer"] == {
        "name": "王小明", "email": "x***@example.cn", "phone": "+** *** **** **00",
        "shipping_address": {"address1": "***", "address2": "***", "city": "東京", "zip": "150-0001"},
        "notes": ["call +* (***) ***-**99 after 5pm"],
    }


def test_exceptions_are_logged_masked(lines: io.StringIO) -> None:
    try:
        raise ValueError("bad customer bob@example.com")
    except ValueError:
        logging.getLogger("x").exception("failed")
    line = last(lines)
    assert line["level"] == "ERROR"
    assert "ValueError: bad customer b***@example.com" in line["exc"]


@pytest.mark.parametrize("text", [
    "order 5123456789012 at offset 1234567",      # bare ids
    "2024-05-01 12:30:45 batch 2024-05-01",        # dates and times
    "broker 192.168.100.200:9092 v4.1.0",         # addresses and versions
    "total 123456.7890 JPY",                       # money
    "trace 3f2a9c1e-0b7d-4e5f-9a8b-1c2d3e4f5a6b",  # uuids
])
def test_non_personal_numbers_are_left_alone(text: str) -> None:
    assert mask_text(text) == text


def test_masking_phone_formats_and_field_names() -> None:
    assert mask_text("+81 90-1234-5678") == "+** **-****-**78"
    assert mask_text("tel:+15551234567") == "tel:+*********67"
    assert mask_text("(555) 123-4567") == "(***) ***-**67"
    assert mask_value({"street": "Main St 1", "mobile": "0612345678", "email": "not-an-email"}) == {
        "street": "***", "mobile": "********78", "email": "***"}


@pytest.mark.parametrize("text,masked", [
    ("from 花子@例え.jp", "from ***@例え.jp"),
    ("to Zoë.Müller@beispiel.de", "to Z***@beispiel.de"),
    ("reply to <siobhán@éire.ie>", "reply to <s***@éire.ie>"),
    ("phones ['09012345678']", "phones ['*********78']"),
    ("call +819012345678", "call +**********78"),
    ("call 0031201234567 now", "call ***********67 now"),
    ("電話 \uff10\uff19\uff10\uff0d\uff11\uff12\uff13\uff14\uff0d\uff15\uff16\uff17\uff18",  # full width
     "電話 ***\uff0d****\uff0d**\uff17\uff18"),
    ("ship to '1-2-3 Jingumae Shibuya'", "ship to '***'"),
    ("ship to 神宮前1丁目2\u22123 青葉ビル", "ship to *** 青葉ビル"),
    ("ship to '7 Rue de Rivoli'", "ship to '***'"),
    ("ship to 12 Quay St, Galway", "ship to ***, Galway"),
    ("ship to Hauptstraße 5, Berlin", "ship to ***, Berlin"),
])
def test_unicode_e_mails_bare_phones_and_street_addresses_are_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize("text", [
    "order 6120004415 offset 1748952000000 partition 12",  # ids, epoch milliseconds: no leading 0
    "batch 3-12 done, retry 2 of 5 in 1.5s, dead-lettering 3 contacts",
    "user@localhost and a@b",                              # no dotted domain
    "渋谷区 東京都 MATCHA-40G 抹茶 40g",                     # places and products
])
def test_what_only_looks_personal_is_left_alone(text: str) -> None:
    assert mask_text(text) == text


def test_personal_name_fields_are_masked_wherever_they_sit(lines: io.StringIO) -> None:
    order = {"billing_address": {"first_name": "Siobhán", "last_name": "O'Neill", "street_1": "12 Quay St",
                                 "company": "Tea Ltd", "city": "Galway"},
             "customer": {"given_name": "花子", "family_name": "佐藤", "full_name": "Zoë Müller"},
             "line": {"name": "Matcha 40g"}}
    logging.getLogger("x").info("order", extra={"order": order})
    raw = lines.getvalue()
    for value in ("Siobhán", "O'Neill", "Quay", "Tea Ltd", "花子", "佐藤", "Zoë"):
        assert value not in raw
    assert last(lines)["order"]["billing_address"]["city"] == "Galway"
    assert last(lines)["order"]["line"]["name"] == "Matcha 40g"
