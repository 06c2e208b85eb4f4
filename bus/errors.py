"""The ecombus error hierarchy: one tree, named after what went wrong, not after HTTP.

The runtime acts on the split between *transient* errors (retry with backoff) and *permanent*
errors (dead-letter at once). Everything the bus raises derives from :class:`BusError`::

    BusError
    ├── ConfigError (ValueError)   settings or a routes file invalid; names what to fix (exit at start)
    │   └── InvalidExpression      a route expression that does not compile (found at load)
    ├── SetupError (RuntimeError)  a prerequisite is missing: Java, Maven, a free port, the network
    ├── TransientError             worth retrying: timeouts, 429/5xx, broker or registry unreachable
    │   └── Unavailable            a dependency cannot take the event now (the sender should retry)
    └── PermanentError             retrying cannot help: dead-letter the message with the reason
        ├── InvalidInput           data from outside is wrong; names the field, never the value
        │   └── FormatError (ValueError)  a CSV, XML, cXML or JSON document cannot be parsed
        ├── Unauthorized           a signature is missing or wrong, a sender is not accepted
        ├── Forbidden              an authentic sender that is not accepted here (an unknown shop)
        ├── TooLarge               a body exceeds the size limit
        ├── UnsupportedMediaType   a body comes in a media type that is not accepted
        ├── NotFound               what a message names does not exist (an unknown order)
        ├── ExpressionError        a route expression failed on a message's values
        └── SerializationError     bad magic byte, unknown schema id, corrupt payload, invalid data

The HTTP edge answers a refusal with the status of its class in one table
(:data:`bus.webhooks.statuses.STATUSES`); nothing here knows about HTTP.

Messages never embed personal data: name the field (``customer.email``), not its value. Raise
with ``from exc`` so the original cause stays in the traceback and in DLQ headers.
"""

from __future__ import annotations


class BusError(Exception):
    """Base class of every error ecombus raises on purpose."""


class ConfigError(BusError, ValueError):
    """A setting or a routes file is invalid; the message names the variable or field to fix.

    Also a ValueError, so pydantic validators raising it report it as a validation error.
    """


class InvalidExpression(ConfigError):
    """A route expression is not in the language (syntax, a refused construct, an unknown function)."""


class SetupError(BusError, RuntimeError):
    """Something the bus needs on this machine is missing; the message says what to do."""


class TransientError(BusError):
    """A failure that may succeed when retried (timeouts, throttling, unreachable peers).

    Attributes:
        retry_after: seconds the peer asked us to wait (HTTP ``Retry-After``), if any.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(TransientError):
    """The event could not be stored now (broker, registry or an API unreachable): retry later."""


class PermanentError(BusError):
    """A failure that retrying cannot fix (bad data, unknown SKU); the message goes to the DLQ."""


class InvalidInput(PermanentError):
    """Data from outside the bus is not what it must be (a missing field, a bad amount).

    Args:
        message: what is wrong, naming the field and never echoing its value.
        field: the offending field's name (``total_price``, ``X-Shopify-Shop-Domain``), if one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class FormatError(InvalidInput, ValueError):
    """A document (CSV, XML, cXML, JSON) cannot be parsed; the message says where and why.

    Also a ValueError, the exception parsers conventionally raise.
    """


class Unauthorized(PermanentError):
    """A signature is missing, malformed, stale or wrong, or the sender is not accepted."""


class Forbidden(PermanentError):
    """The sender is authentic but not accepted here (a shop that is not configured)."""


class TooLarge(PermanentError):
    """A body is larger than the limit that applies to it."""


class UnsupportedMediaType(PermanentError):
    """A body's media type (Content-Type) is not one that is accepted."""


class NotFound(PermanentError):
    """What a message or request names (an order, a subject, a schema) does not exist."""


class ExpressionError(PermanentError):
    """A route expression cannot work on a message's values (``int`` of a name, text + number)."""


class SerializationError(PermanentError):
    """A payload cannot be encoded or decoded (wire format, schema id, Avro data)."""


__all__ = [
    "BusError",
    "ConfigError",
    "ExpressionError",
    "Forbidden",
    "FormatError",
    "InvalidExpression",
    "InvalidInput",
    "NotFound",
    "PermanentError",
    "SerializationError",
    "SetupError",
    "TooLarge",
    "TransientError",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
]
