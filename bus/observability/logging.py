"""JSON-lines logging for every ecombus process, with personal data masked.

One JSON object per line on stderr (12-factor: the platform collects it), with ``ts`` (UTC,
ISO 8601 with milliseconds), ``level``, ``service``, ``logger``, ``message``, then every field
passed with ``extra=`` such as ``event_id``, ``correlation_id``, ``topic``, ``partition`` and
``offset``, then ``exc`` when an exception is logged. Text is written as UTF-8, unescaped, so
Japanese and Chinese stay readable. The message, the extras and tracebacks go through
:mod:`bus.observability.masking` first.

Example::

    configure_logging("inventory-sync", "INFO")
    log.info("reserved stock", extra={"event_id": eid, "topic": msg.topic, "offset": msg.offset})
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from bus.observability.masking import mask_field, mask_text

CONTEXT_FIELDS = ("event_id", "correlation_id", "topic", "partition", "offset")
"""Fields that identify what a line is about; listed first when present."""

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one masked JSON object.

    Args:
        service: the value of the ``service`` field on every line.
    """

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": mask_text(record.getMessage()),
        }
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}
        ordered = [k for k in CONTEXT_FIELDS if k in extras] + [k for k in extras if k not in CONTEXT_FIELDS]
        for key in ordered:
            if key not in line:
                line[key] = mask_field(key, extras[key])
        if record.exc_info:
            line["exc"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(
    service: str, level: str | int = "INFO", stream: IO[str] | None = None
) -> logging.Handler:
    """Send every log record of the process to ``stream`` (stderr) as masked JSON lines.

    Replaces the handler a previous call installed, so calling it twice does not double lines.

    Args:
        service: the service name written on every line.
        level: the root level (``"DEBUG"``, ``"INFO"``, ... or a number).
        stream: where to write; ``sys.stderr`` by default.

    Returns:
        The installed handler (tests capture its stream).
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_ecombus_json", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler._ecombus_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
