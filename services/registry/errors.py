"""Errors of the schema registry, each carrying its Confluent error code and HTTP status.

The HTTP layer turns any :class:`RegistryError` into ``{"error_code": N, "message": "..."}``
with :attr:`RegistryError.http_status`::

    BusError
    └── RegistryError                 50001 / 500  the store failed (Kafka unreachable, timeout)
        ├── SubjectNotFound           40401 / 404
        ├── VersionNotFound           40402 / 404
        ├── SchemaNotFound            40403 / 404
        ├── SubjectSoftDeleted        40404 / 404  permanent delete needs a soft delete first...
        ├── SubjectNotSoftDeleted     40405 / 404  ...and this is the error when it had none
        ├── VersionSoftDeleted        40406 / 404
        ├── VersionNotSoftDeleted     40407 / 404
        ├── SubjectConfigNotFound     40408 / 404  no per-subject compatibility level is set
        ├── InvalidSchema             42201 / 422  (also a ValueError) not valid Avro, not AVRO
        ├── InvalidVersion            42202 / 422  (also a ValueError) not a number or "latest"
        ├── InvalidCompatibilityLevel 42203 / 422  (also a ValueError)
        ├── IncompatibleSchema          409 / 409  the message names each problem and its field
        └── MalformedRequest            400 / 400  the body is not the JSON object expected
"""

from __future__ import annotations

from bus.errors import BusError


class RegistryError(BusError):
    """Base of every registry error; as is, a store failure (error code 50001, HTTP 500)."""

    error_code = 50001
    http_status = 500


class SubjectNotFound(RegistryError):
    error_code = 40401
    http_status = 404


class VersionNotFound(RegistryError):
    error_code = 40402
    http_status = 404


class SchemaNotFound(RegistryError):
    error_code = 40403
    http_status = 404


class SubjectSoftDeleted(RegistryError):
    error_code = 40404
    http_status = 404


class SubjectNotSoftDeleted(RegistryError):
    error_code = 40405
    http_status = 404


class VersionSoftDeleted(RegistryError):
    error_code = 40406
    http_status = 404


class VersionNotSoftDeleted(RegistryError):
    error_code = 40407
    http_status = 404


class SubjectConfigNotFound(RegistryError):
    error_code = 40408
    http_status = 404


class InvalidSchema(RegistryError, ValueError):
    error_code = 42201
    http_status = 422


class InvalidVersion(RegistryError, ValueError):
    error_code = 42202
    http_status = 422


class InvalidCompatibilityLevel(RegistryError, ValueError):
    error_code = 42203
    http_status = 422


class IncompatibleSchema(RegistryError):
    """The schema breaks the subject's compatibility level.

    Attributes:
        problems: one human-readable line per problem, each naming the field.
    """

    error_code = 409
    http_status = 409

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class MalformedRequest(RegistryError):
    """The request body is not the JSON object the route expects (HTTP 400, as Confluent)."""

    error_code = 400
    http_status = 400
