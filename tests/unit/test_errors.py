"""The one error tree (bus.errors) and the HTTP edge's one table of refusals (bus.webhooks.statuses)."""

from __future__ import annotations

import json

import pytest

import bus.errors as errors
from bus.errors import (
    BusError,
    ConfigError,
    ExpressionError,
    Forbidden,
    FormatError,
    InvalidExpression,
    InvalidInput,
    NotFound,
    PermanentError,
    SerializationError,
    SetupError,
    TooLarge,
    TransientError,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from bus.webhooks.statuses import STATUSES, Refusal, refusal_of, refusal_response
from services.registry import errors as registry_errors

REFUSALS = {
    Unauthorized: (401, "invalid_signature", "unauthorized"),
    Forbidden: (403, "unknown_tenant", "forbidden"),
    InvalidInput: (400, "malformed_body", "malformed"),
    TooLarge: (413, "payload_too_large", "too_large"),
    UnsupportedMediaType: (415, "unsupported_media_type", "unsupported_media_type"),
    Unavailable: (503, "unavailable", "unavailable"),
}
"""Every refusal an HTTP edge makes, with the status, error code and metric label it answers today."""


def _tree() -> list[type[BusError]]:
    return [getattr(errors, name) for name in errors.__all__]


def test_every_class_of_the_tree_is_a_bus_error_and_exported() -> None:
    classes = _tree()
    assert all(issubclass(cls, BusError) for cls in classes)
    defined = {v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, BaseException)}
    assert defined == set(classes)


def test_no_error_is_both_transient_and_permanent() -> None:
    for cls in _tree():
        assert not (issubclass(cls, TransientError) and issubclass(cls, PermanentError)), cls


@pytest.mark.parametrize(("cls", "kind"), [
    (Unavailable, TransientError), (InvalidInput, PermanentError), (FormatError, PermanentError),
    (Unauthorized, PermanentError), (TooLarge, PermanentError), (UnsupportedMediaType, PermanentError),
    (NotFound, PermanentError), (ExpressionError, PermanentError), (SerializationError, PermanentError),
])
def test_the_runtime_can_tell_retry_from_dead_letter(cls: type[BusError], kind: type[BusError]) -> None:
    assert issubclass(cls, kind)


def test_load_time_errors_are_neither_retried_nor_dead_lettered() -> None:
    for cls in (ConfigError, InvalidExpression, SetupError):
        assert not issubclass(cls, TransientError | PermanentError), cls
    assert issubclass(InvalidExpression, ConfigError) and issubclass(InvalidExpression, ValueError)
    assert issubclass(FormatError, InvalidInput) and issubclass(FormatError, ValueError)


def test_invalid_input_names_the_field() -> None:
    error = InvalidInput("total_price is not a decimal amount", field="total_price")
    assert (str(error), error.field) == ("total_price is not a decimal amount", "total_price")
    assert FormatError("line 3: 1 cells, the header has 2").field is None


@pytest.mark.parametrize(("cls", "answer"), REFUSALS.items())
def test_the_table_answers_every_refusal_class(cls: type[BusError], answer: tuple[int, str, str]) -> None:
    refusal = refusal_of(cls("why"))
    assert refusal is not None
    assert (refusal.status, refusal.code, refusal.outcome) == answer


def test_the_table_lists_only_bus_errors_and_each_status_once() -> None:
    assert all(issubclass(cls, BusError) for cls in STATUSES)
    statuses = [r.status for r in STATUSES.values()]
    assert len(statuses) == len(set(statuses))


@pytest.mark.parametrize(("exc", "status"), [
    (FormatError("not well-formed XML"), 400),
    (TransientError("the schema registry is unreachable"), 503),
    (registry_errors.MalformedRequest("not a JSON object"), 400),
    (registry_errors.StoreUnavailable("Kafka unreachable"), 503),
])
def test_subclasses_answer_as_their_nearest_listed_ancestor(exc: BusError, status: int) -> None:
    refusal = refusal_of(exc)
    assert refusal is not None and refusal.status == status


@pytest.mark.parametrize("exc", [
    NotFound("unknown order 42"), SerializationError("bad magic byte"), ExpressionError("int(): not"),
    PermanentError("unknown SKU"), ConfigError("ECOMBUS_X"), SetupError("no Java"), ValueError("x"),
])
def test_anything_else_is_no_refusal(exc: Exception) -> None:
    assert refusal_of(exc) is None


def test_the_response_is_the_json_error_body_with_retry_after_on_503() -> None:
    refused = refusal_response(Unauthorized("missing X-Shopify-Hmac-Sha256 header"),
                               Refusal(401, "invalid_signature", "unauthorized"))
    assert refused.status_code == 401 and "retry-after" not in refused.headers
    assert json.loads(bytes(refused.body)) == {"error": "invalid_signature",
                                               "message": "missing X-Shopify-Hmac-Sha256 header"}
    down = refusal_response(Unavailable("the broker did not store the event"), STATUSES[TransientError])
    assert (down.status_code, down.headers["retry-after"]) == (503, "1")


def test_registry_errors_keep_their_confluent_answers_and_join_the_tree() -> None:
    assert issubclass(registry_errors.SubjectNotFound, NotFound)
    assert issubclass(registry_errors.InvalidSchema, InvalidInput) and issubclass(
        registry_errors.InvalidSchema, ValueError)
    assert issubclass(registry_errors.StoreUnavailable, TransientError)
    answers = {cls.__name__: (cls.error_code, cls.http_status) for cls in (
        registry_errors.RegistryError, registry_errors.StoreUnavailable, registry_errors.SubjectNotFound,
        registry_errors.InvalidSchema, registry_errors.IncompatibleSchema, registry_errors.MalformedRequest)}
    assert answers == {"RegistryError": (50001, 500), "StoreUnavailable": (50001, 500),
                       "SubjectNotFound": (40401, 404), "InvalidSchema": (42201, 422),
                       "IncompatibleSchema": (409, 409), "MalformedRequest": (400, 400)}
