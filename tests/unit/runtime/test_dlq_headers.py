from bus.errors import PermanentError, TransientError
from bus.ops.dlq import Filter
from bus.runtime.dlq import STAGE_HANDLER, Failure, dead_letter_headers, header_dict, strip_error_headers


def _failure(error: Exception) -> Failure:
    try:
        raise error
    except Exception as exc:
        return Failure("inventory-sync", "reserve_stock", STAGE_HANDLER, exc, attempts=5,
                       first_failure=1_700_000_000.0, last_failure=1_700_000_030.5)


def test_headers_keep_the_original_and_add_connect_and_ecombus_ones() -> None:
    original = [("traceparent", b"00-1-01"), ("__connect.errors.topic", b"stale")]
    headers = dead_letter_headers(original, "orders.placed.v1", 2, 41, _failure(TransientError("429")))
    values = header_dict(headers)
    assert headers[0] == ("traceparent", b"00-1-01")
    assert [k for k, _ in headers].count("__connect.errors.topic") == 1, "stale error headers replaced"
    assert values["__connect.errors.topic"] == "orders.placed.v1"
    assert values["__connect.errors.partition"] == "2"
    assert values["__connect.errors.offset"] == "41"
    assert values["__connect.errors.connector.name"] == "inventory-sync"
    assert values["__connect.errors.exception.class.name"] == "bus.errors.TransientError"
    assert "raise error" in values["__connect.errors.exception.stacktrace"]
    assert values["ecombus.errors.kind"] == "transient"
    assert values["ecombus.errors.attempts"] == "5"
    assert values["ecombus.errors.first.failure"] == "2023-11-14T22:13:20.000+00:00"
    assert values["ecombus.errors.last.failure"] == "2023-11-14T22:13:50.500+00:00"
    assert strip_error_headers(headers) == [("traceparent", b"00-1-01")]


def test_permanent_kind() -> None:
    assert _failure(PermanentError("bad")).kind == "permanent"
    assert _failure(ValueError("bug")).kind == "permanent"


def test_where_filters() -> None:
    exact = Filter.parse("handler=reserve_stock")
    regex = Filter.parse("exception~Timeout")
    assert (exact.field, exact.value, exact.regex) == ("handler", "reserve_stock", False)
    assert regex.regex


def test_where_rejects_unknown_fields() -> None:
    import pytest

    from bus.errors import ConfigError

    with pytest.raises(ConfigError, match="FIELD one of"):
        Filter.parse("colour=red")
