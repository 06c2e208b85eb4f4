"""The ecombus error hierarchy.

The runtime acts on the split between *transient* errors (retry with backoff) and *permanent*
errors (dead-letter at once). Everything the bus raises derives from :class:`BusError`::

    BusError
    ├── ConfigError            settings invalid or missing; names the variable (exit at start)
    ├── SetupError             a prerequisite is missing: Java, Maven, a free port, the network
    ├── TransientError         worth retrying: timeouts, 429/5xx, broker or registry unreachable
    └── PermanentError         retrying cannot help: dead-letter the message with the reason
        └── SerializationError bad magic byte, unknown schema id, corrupt payload, invalid data

Raise with ``from exc`` so the original cause stays in the traceback and in DLQ headers.
"""

from __future__ import annotations


class BusError(Exception):
    """Base class of every error ecombus raises on purpose."""


class ConfigError(BusError, ValueError):
    """A setting is invalid; the message names the environment variable to fix."""


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


class PermanentError(BusError):
    """A failure that retrying cannot fix (bad data, unknown SKU); the message goes to the DLQ."""


class SerializationError(PermanentError):
    """A payload cannot be encoded or decoded (wire format, schema id, Avro data)."""
