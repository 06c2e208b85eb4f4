"""Put dead letters back: what a replay produces, producing it at a bounded rate, and its audit.

One dead letter gives one :class:`Replay`: the original key, value bytes (or an edited value),
headers minus the error headers and those of an earlier replay, and timestamp, sent to the
topic it came from (``__connect.errors.topic``) with::

    ecombus.replayed.from   <dlq topic>/<partition>/<offset>
    ecombus.replayed.by     who asked for it
    ecombus.edited.by       who changed the value (edit-and-replay only)
    ecombus.replay.for      the service that dead-lettered it: other consumers of the topic skip it
    ecombus.replay.route    the router's failed route (router dead letters): only that route runs

:class:`Replayer` produces replays (acks=all, at most the rate of its token bucket), reports a
replay done only once the broker acknowledged it, and then writes one ProcessingRecord per
replayed dead letter on ``bus.audit.v1`` (outcome ``REPLAYED``, ``actor`` = the person). The
console and ``ecombus dlq replay`` both go through it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import KafkaError, Message

from bus.errors import ConfigError
from bus.runtime.audit import AUDIT_TOPIC, processing_record
from bus.runtime.dlq import (
    CONNECT_PREFIX,
    ECOMBUS_PREFIX,
    EDITED_BY,
    ERROR_HEADER_PREFIXES,
    REPLAY_FOR,
    REPLAY_HEADER_PREFIXES,
    REPLAY_ROUTE,
    REPLAYED_BY,
    REPLAYED_FROM,
    header_dict,
)
from bus.runtime.handlers import Consumed, Headers
from bus.runtime.producer import BusProducer
from bus.runtime.rate import TokenBucket

log = logging.getLogger(__name__)

_POSITION = re.compile(r"([A-Za-z0-9._-]+)/(\d+)/(\d+)")


@dataclass(frozen=True, order=True)
class Position:
    """Where a record sits; written ``<topic>/<partition>/<offset>`` (as in ``ecombus.replayed.from``)."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    @classmethod
    def parse(cls, text: str) -> Position:
        """``dlq.router/0/42`` as a Position.

        Raises:
            ConfigError: not ``<topic>/<partition>/<offset>``.
        """
        match = _POSITION.fullmatch(text.strip())
        if not match:
            raise ConfigError(f"{text[:80]!r} is not <topic>/<partition>/<offset>")
        return cls(match.group(1), int(match.group(2)), int(match.group(3)))


@dataclass(frozen=True)
class Replay:
    """The record a replay produces for one dead letter (see the module docstring).

    Attributes:
        source: the dead letter's position.
        service: the service that dead-lettered it (``ecombus.replay.for``).
        topic / key / value / headers / timestamp: the record to produce.
        route: the router's failed route, if any.
        edited: the value is a person's edit, not the original bytes.
        order_id / correlation_id / event_id: what the audit record says it was about, when known.
    """

    source: Position
    service: str
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp: int | None
    route: str | None = None
    edited: bool = False
    order_id: str | None = None
    correlation_id: str | None = None
    event_id: str | None = None


def service_of(dead_letter: Consumed) -> str:
    """The service that dead-lettered a record: its ``ecombus.errors.service`` header, else the
    ``<service>`` of its ``dlq.<service>`` topic."""
    named = header_dict(dead_letter.headers).get(f"{ECOMBUS_PREFIX}service")
    return named or dead_letter.topic.removeprefix("dlq.")


def plan(dead_letter: Consumed, by: str, *, to: str | None = None, value: bytes | None = None,
         edited: bool = False, order_id: str | None = None, correlation_id: str | None = None,
         event_id: str | None = None) -> Replay:
    """The replay of ``dead_letter`` asked for by ``by``.

    Args:
        to: produce there instead of the original topic (then no service is targeted).
        value: the edited value (with ``edited``); the original bytes otherwise.

    Raises:
        ConfigError: the dead letter does not say where it came from and ``to`` is not given.
    """
    headers = header_dict(dead_letter.headers)
    target = to or headers.get(f"{CONNECT_PREFIX}topic")
    where = Position(dead_letter.topic, dead_letter.partition, dead_letter.offset)
    if not target:
        raise ConfigError(f"dead letter {where} has no {CONNECT_PREFIX}topic header: say where it goes")
    service = service_of(dead_letter)
    route = headers.get(f"{ECOMBUS_PREFIX}route") or None
    added: Headers = [(REPLAYED_FROM, str(where).encode()), (REPLAYED_BY, by.encode())]
    if edited:
        added.append((EDITED_BY, by.encode()))
    if to is None:  # back where it came from: only the service (and route) that failed handles it
        added.append((REPLAY_FOR, service.encode()))
        if route:
            added.append((REPLAY_ROUTE, route.encode()))
    kept = [(k, v) for k, v in dead_letter.headers
            if not k.startswith(ERROR_HEADER_PREFIXES) and not k.startswith(REPLAY_HEADER_PREFIXES)]
    return Replay(where, service, target, dead_letter.key, value if edited else dead_letter.value,
                  kept + added, dead_letter.timestamp_ms, route, edited, order_id, correlation_id, event_id)


def audit_record(replay: Replay, actor: str, handler: str, now: float, seconds: float = 0.0,
                 service: str = "console") -> dict[str, Any]:
    """The ProcessingRecord of one replayed dead letter: outcome ``REPLAYED``, ``actor`` the person,
    topic/partition/offset the dead letter's; a new event id for every replay."""
    where = replay.source
    record = processing_record(service, handler, where.topic, where.partition, where.offset, None,
                               "replayed", seconds, now, actor=actor)
    record["meta"]["event_id"] = str(uuid.uuid5(
        uuid.NAMESPACE_URL, f"ecombus:{service}:{where}:REPLAYED:{actor}:{int(now * 1000)}"))
    record["meta"]["correlation_id"] = replay.correlation_id or replay.event_id or str(where)
    record["event_id"] = replay.event_id or str(where)
    record["order_id"] = replay.order_id
    record["route"] = replay.route
    return record


@dataclass
class ReplayProgress:
    """How a replay is going; updated from the producer's delivery callbacks (read it any time).

    Attributes:
        total: replays asked for.
        sent: handed to the producer.
        acknowledged: replays the broker acknowledged, in the order they were.
        failed: replays whose delivery failed, with the broker's error.
        audited / audit_failed: audit records acknowledged / not.
        finished: the run is over.
        error: what went wrong, for a person (stopped early, not acknowledged, not audited).
        stopped_by: the exception that stopped producing early, if one did.
    """

    total: int = 0
    sent: int = 0
    acknowledged: list[Replay] = field(default_factory=list)
    failed: list[tuple[Replay, str]] = field(default_factory=list)
    audited: int = 0
    audit_failed: int = 0
    finished: bool = False
    error: str | None = None
    stopped_by: Exception | None = None

    @property
    def unconfirmed(self) -> int:
        """Sent but neither acknowledged nor failed (after the run: not acknowledged in time)."""
        return self.sent - len(self.acknowledged) - len(self.failed)


class Encoder(Protocol):
    """Encodes audit records (an ``AvroEncoder``, any :class:`~bus.runtime.codec.Codec`)."""

    def encode(self, topic: str, value: Any) -> bytes: ...


class Replayer:
    """Produce replays at a bounded rate, wait for the broker, then audit them.

    Args:
        producer: an acks=all producer (:class:`BusProducer`).
        audit_codec: encodes ProcessingRecords for ``audit_topic`` (Avro through the registry);
            None writes no audit record.
        bucket: the rate limit shared by every replay of this process; None: no limit.
        service: who writes the audit records (``console``, or ``ecombus`` for the command).
        timeout: seconds to wait for the broker's acknowledgements at the end of a run.
        clock: wall clock, seconds.
    """

    def __init__(self, producer: BusProducer, audit_codec: Encoder | None, *,
                 bucket: TokenBucket | None = None, service: str = "console",
                 audit_topic: str = AUDIT_TOPIC, timeout: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.producer, self.audit_codec, self.bucket = producer, audit_codec, bucket
        self.service, self.audit_topic, self.timeout, self.clock = service, audit_topic, timeout, clock

    def run(self, replays: Iterable[Replay], actor: str, handler: str = "replay",
            progress: ReplayProgress | None = None, stop: threading.Event | None = None,
            on_replayed: Callable[[Replay], None] | None = None) -> ReplayProgress:
        """Produce every replay, wait for the acknowledgements, audit the acknowledged ones.

        Args:
            actor: who asked (the audit records' ``actor``; already in the replays' headers).
            handler: ``replay`` or ``edit-and-replay`` (the audit records' ``handler``).
            progress: where to report (a caller showing it while this runs); a new one by default.
            stop: set it to stop producing (what was sent is still waited for and audited).
            on_replayed: called for each acknowledged replay once its audit record was written or
                given up on (mark it replayed).
        """
        progress = progress or ReplayProgress()
        started = self.clock()
        try:
            for replay in replays:
                if stop is not None and stop.is_set():
                    progress.error = "stopped before the end"
                    break
                if self.bucket is not None:
                    self.bucket.take()
                self.producer.produce(replay.topic, replay.value, key=replay.key, headers=replay.headers,
                                      timestamp=replay.timestamp, on_delivery=_Delivery(progress, replay))
                progress.sent += 1
                self.producer.poll(0)
        except Exception as exc:  # e.g. the broker's queue stayed full, a dead letter was unreadable
            log.exception("replay stopped after %d record(s)", progress.sent)
            progress.error = f"stopped after {progress.sent} record(s): {exc}"
            progress.stopped_by = exc
        self.producer.flush(self.timeout)
        if progress.unconfirmed:
            progress.error = progress.error or (
                f"{progress.unconfirmed} record(s) not acknowledged within {self.timeout:.0f}s "
                "(they may still arrive: look before replaying them again)")
        seconds = self.clock() - started
        self._audit(list(progress.acknowledged), actor, handler, seconds, progress, on_replayed)
        progress.finished = True
        return progress

    def _audit(self, done: list[Replay], actor: str, handler: str, seconds: float, progress: ReplayProgress,
               on_replayed: Callable[[Replay], None] | None) -> None:
        """One audit record per acknowledged replay, waited for; then ``on_replayed`` for each
        (the replay happened whether or not its audit record could be written)."""
        if self.audit_codec is None:
            for replay in done:
                if on_replayed is not None:
                    on_replayed(replay)
            return
        codec = self.audit_codec
        audited: list[Replay] = []

        def delivered(replay: Replay) -> Callable[[KafkaError | None, Message], None]:
            return lambda err, _msg: audited.append(replay) if err is None else None

        per_record = seconds / max(1, len(done))
        try:
            for replay in done:
                record = audit_record(replay, actor, handler, self.clock(), per_record, self.service)
                self.producer.produce(self.audit_topic, codec.encode(self.audit_topic, record),
                                      key=record["meta"]["correlation_id"].encode(),
                                      on_delivery=delivered(replay))
        except Exception as exc:  # the registry unreachable while encoding the first record
            log.exception("replay audit records not written")
            progress.error = progress.error or f"replayed, but the audit records could not be written: {exc}"
        self.producer.flush(self.timeout)
        progress.audited = len(audited)
        progress.audit_failed = len(done) - len(audited)
        if progress.audit_failed:
            log.error("%d replay audit record(s) not acknowledged", progress.audit_failed)
            progress.error = progress.error or f"{progress.audit_failed} audit record(s) not written"
        for replay in done:
            if on_replayed is not None:
                on_replayed(replay)


class _Delivery:
    """The delivery callback of one replay: reports it to the progress."""

    __slots__ = ("progress", "replay")

    def __init__(self, progress: ReplayProgress, replay: Replay) -> None:
        self.progress, self.replay = progress, replay

    def __call__(self, err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            self.progress.acknowledged.append(self.replay)
        else:
            self.progress.failed.append((self.replay, str(err)))
