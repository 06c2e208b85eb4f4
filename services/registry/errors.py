"""Errors of the schema registry, each carrying its Confluent error code and HTTP status.

The registry speaks Confluent's REST protocol, so its answers are its own: the HTTP layer turns
any :class:`RegistryError` into ``{"error_code": N, "message": "..."}`` with
:attr:`RegistryError.http_status`. Each error also takes its place in the bus' one tree
(:mod:`bus.errors`), so code outside the HTTP layer can tell a retry from a refusal::

    RegistryError (BusError)            code / HTTP  also a (bus.errors)
    ├── StoreUnavailable               50001 / 500  TransientError: Kafka unreachable, timeout,
    │                                               contention (a bare RegistryError is the same)
    ├── SubjectNotFound                40401 / 404  NotFound
    ├── VersionNotFound                40402 / 404  NotFound
    ├── SchemaNotFound                 40403 / 404  NotFound
    ├── SubjectSoftDeleted             40404 / 404  NotFound: permanent delete needs a soft delete...
    ├── SubjectNotSoftDeleted          40405 / 404  NotFound: ...and this is the error when it had none
    ├── VersionSoftDeleted             40406 / 404  NotFound
    ├── VersionNotSoftDeleted          40407 / 404  NotFound
    ├── SubjectConfigNotFound          40408 / 404  NotFound: no per-subject compatibility level is set
    ├── InvalidSchema                  42201 / 422  InvalidInput (and ValueError): not valid Avro, not AVRO
    ├── InvalidVersion                 42202 / 422  InvalidInput (and ValueError): not a number or "latest"
    ├── InvalidCompatibilityLevel      42203 / 422  InvalidInput (and ValueError)
    ├── IncompatibleSchema               409 / 409  InvalidInput: the message names each problem and field
    └── MalformedRequest                 400 / 400  InvalidInput: the body is not the JSON object expected
"""

from __future__ import annotations

from bus.contracts import avro_schema, compatibility
from bus.errors import BusError, InvalidInput, NotFound, TransientError


class RegistryError(BusError):
    """Base of every registry error; as is, a store failure (error code 50001, HTTP 500)."""

    error_code = 50001
    http_status = 500


class StoreUnavailable(RegistryError, TransientError):
    """The registry's log could not be written or read back, or too many races were lost."""


class SubjectNotFound(RegistryError, NotFound):
    error_code = 40401
    http_status = 404


class VersionNotFound(RegistryError, NotFound):
    error_code = 40402
    http_status = 404


class SchemaNotFound(RegistryError, NotFound):
    error_code = 40403
    http_status = 404


class SubjectSoftDeleted(RegistryError, NotFound):
    error_code = 40404
    http_status = 404


class SubjectNotSoftDeleted(RegistryError, NotFound):
    error_code = 40405
    http_status = 404


class VersionSoftDeleted(RegistryError, NotFound):
    error_code = 40406
    http_status = 404


class VersionNotSoftDeleted(RegistryError, NotFound):
    error_code = 40407
    http_status = 404


class SubjectConfigNotFound(RegistryError, NotFound):
    error_code = 40408
    http_status = 404


class InvalidSchema(RegistryError, avro_schema.InvalidSchema):
    error_code = 42201
    http_status = 422


class InvalidVersion(RegistryError, InvalidInput, ValueError):
    error_code = 42202
    http_status = 422


class InvalidCompatibilityLevel(RegistryError, compatibility.InvalidCompatibilityLevel):
    error_code = 42203
    http_status = 422


class IncompatibleSchema(RegistryError, InvalidInput):
    """The schema breaks the subject's compatibility level.

    Attributes:
        problems: one human-readable line per problem, each naming the field.
    """

    error_code = 409
    http_status = 409

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class MalformedRequest(RegistryError, InvalidInput):
    """The request body is not the JSON object the route expects (HTTP 400, as Confluent)."""

    error_code = 400
    http_status = 400


CONTRACT_ERRORS: dict[type[Exception], type[RegistryError]] = {
    avro_schema.InvalidSchema: InvalidSchema,
    compatibility.InvalidCompatibilityLevel: InvalidCompatibilityLevel,
}
"""What the contracts mechanisms raise, answered as the registry error carrying its Confluent code."""
