"""Dead letters: a message that cannot be processed goes to ``dlq.<service>``, untouched.

The DLQ record keeps the original key, value (the exact bytes), headers and timestamp, and adds
Kafka Connect's ``__connect.errors.*`` headers (so tools that know Connect's DLQs understand it)
plus ecombus' own ``ecombus.errors.*`` headers::

    __connect.errors.topic / .partition / .offset        where the message came from
    __connect.errors.connector.name                      the service
    __connect.errors.task.id                             the handler (or route)
    __connect.errors.stage                               VALUE_CONVERTER, TASK_PUT, TRANSFORMATION
    __connect.errors.class.name                          the handler's qualified name
    __connect.errors.exception.class.name / .message / .stacktrace
    ecombus.errors.service / .handler / .route / .step   who failed
    ecombus.errors.kind                                  transient (retries exhausted) | permanent
    ecombus.errors.attempts                              attempts made
    ecombus.errors.first.failure / .last.failure         ISO 8601 UTC

``ecombus dlq replay`` and the console strip these headers again and put the original bytes
back, with headers saying where from, who asked and for whom::

    ecombus.replayed.from                                <dlq topic>/<partition>/<offset>
    ecombus.replayed.by / ecombus.edited.by              the person (edited: the value was changed)
    ecombus.replay.for                                   the service that dead-lettered it
    ecombus.replay.route                                 the router's route that failed, if one

A replay goes back on the original topic, often one several services consume: the consumer loop
hands a record whose ``ecombus.replay.for`` names another service to no handler (it counts it as
skipped and moves on), and the router runs only the ``ecombus.replay.route`` route.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from datetime import UTC, datetime

from bus.errors import TransientError
from bus.runtime.handlers import Headers

CONNECT_PREFIX = "__connect.errors."
ECOMBUS_PREFIX = "ecombus.errors."
ERROR_HEADER_PREFIXES = (CONNECT_PREFIX, ECOMBUS_PREFIX)

REPLAYED_FROM = "ecombus.replayed.from"
REPLAYED_BY = "ecombus.replayed.by"
EDITED_BY = "ecombus.edited.by"
REPLAY_FOR = "ecombus.replay.for"
REPLAY_ROUTE = "ecombus.replay.route"
REPLAY_HEADER_PREFIXES = ("ecombus.replay.", "ecombus.replayed.", "ecombus.edited.")
"""Headers a replay adds; a later replay of the same record replaces them."""

STAGE_DECODE = "VALUE_CONVERTER"
STAGE_HANDLER = "TASK_PUT"
STAGE_TRANSFORM = "TRANSFORMATION"


def dlq_topic(service: str) -> str:
    """The dead-letter topic of a service."""
    return f"dlq.{service}"


def iso_utc(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Failure:
    """Why and how a message failed, as recorded in the DLQ headers."""

    service: str
    handler: str
    stage: str
    error: BaseException
    attempts: int
    first_failure: float
    last_failure: float
    class_name: str = ""
    route: str | None = None
    step: str | None = None

    @property
    def kind(self) -> str:
        return "transient" if isinstance(self.error, TransientError) else "permanent"


def dead_letter_headers(original: Headers, topic: str, partition: int, offset: int,
                        failure: Failure) -> Headers:
    """The original headers (minus error headers of an earlier dead-lettering) plus ours."""
    exc = failure.error
    stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-8000:]
    ours = {
        f"{CONNECT_PREFIX}topic": topic,
        f"{CONNECT_PREFIX}partition": str(partition),
        f"{CONNECT_PREFIX}offset": str(offset),
        f"{CONNECT_PREFIX}connector.name": failure.service,
        f"{CONNECT_PREFIX}task.id": failure.route or failure.handler,
        f"{CONNECT_PREFIX}stage": failure.stage,
        f"{CONNECT_PREFIX}class.name": failure.class_name or failure.handler,
        f"{CONNECT_PREFIX}exception.class.name": f"{type(exc).__module__}.{type(exc).__qualname__}",
        f"{CONNECT_PREFIX}exception.message": str(exc)[:2000],
        f"{CONNECT_PREFIX}exception.stacktrace": stack,
        f"{ECOMBUS_PREFIX}service": failure.service,
        f"{ECOMBUS_PREFIX}handler": failure.handler,
        f"{ECOMBUS_PREFIX}kind": failure.kind,
        f"{ECOMBUS_PREFIX}attempts": str(failure.attempts),
        f"{ECOMBUS_PREFIX}first.failure": iso_utc(failure.first_failure),
        f"{ECOMBUS_PREFIX}last.failure": iso_utc(failure.last_failure),
    }
    if failure.route:
        ours[f"{ECOMBUS_PREFIX}route"] = failure.route
    if failure.step:
        ours[f"{ECOMBUS_PREFIX}step"] = failure.step
    kept = [(k, v) for k, v in original if not k.startswith(ERROR_HEADER_PREFIXES)]
    return kept + [(k, v.encode()) for k, v in ours.items()]


def strip_error_headers(headers: Headers) -> Headers:
    """Headers as they were before dead-lettering (used by replay)."""
    return [(k, v) for k, v in headers if not k.startswith(ERROR_HEADER_PREFIXES)]


def replay_for(headers: Headers) -> str | None:
    """The service a replayed record is meant for (``ecombus.replay.for``), or None for everyone."""
    for name, value in headers:
        if name == REPLAY_FOR:
            return (value or b"").decode("utf-8", "replace")
    return None


def header_dict(headers: Headers | None) -> dict[str, str]:
    """Last value of each header, decoded as UTF-8 (replacement characters where it is not)."""
    return {k: (v or b"").decode("utf-8", "replace") for k, v in headers or []}
