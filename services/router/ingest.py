"""Inputs that do not come through the consumer loop: dropped files and HTTP requests.

Both run a route for each record and then produce the Kafka outputs themselves, with the same
dead-lettering as the loop: a record that fails permanently goes to ``dlq.router`` (as JSON,
since a file row or a request record has no bytes of its own on Kafka) with the Kafka Connect
and ecombus error headers, route and step included; a transient failure is retried within the
policy and, if it persists, the whole input is left for later (file) or answered 503 (HTTP).

:class:`FileIngest` makes a file exactly-once: every output, dead letter and the file's "done"
mark (its content hash, in the replicated set of :class:`~bus.runtime.idempotency.ProcessedEvents`)
go in one Kafka transaction; a file whose hash is marked done is only moved. A crash before the
commit aborts the transaction and the file is processed again from its first row; a crash after
it leaves a marked file that the restarted router moves to ``done/`` without producing anything.

Each file is handled in isolation (:meth:`FileIngest.poll_once`): a file that cannot be read
(:class:`~bus.errors.FormatError`: the reason names the line or the limit) or whose handling
raises anything else is moved to ``error/`` with its original bytes and a ``.reason.txt``
(the exception's type for an unforeseen failure, whose message may quote data; the router's log
has the traceback's frames), counted in ``ecombus_router_files_total{outcome="unreadable"|"failed"}``,
and the next file is processed. Only a :class:`~bus.errors.TransientError` (the broker did not
take the transaction) leaves a file in place, to be tried again at the next poll.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from bus.errors import FormatError, TransientError
from bus.runtime.codec import Codec
from bus.runtime.dlq import STAGE_TRANSFORM, Failure, dead_letter_headers, dlq_topic
from bus.runtime.producer import BusProducer
from bus.runtime.retry import RetryPolicy
from bus.serde.json_view import to_json
from services.router import SERVICE
from services.router.endpoints.file_in import FileIn
from services.router.message import Message, Origin
from services.router.metrics import RouterMetrics
from services.router.pipeline import Delivered, RouteFailure, RouteRunner, route_failure
from services.router.steps.aggregate import WindowClose
from services.router.steps.base import Step

log = logging.getLogger("ecombus.router")

Record = tuple[str, bytes | None, str | bytes | None, list[tuple[str, bytes]]]
"""(topic, encoded value, key, headers) ready to produce."""


@dataclass
class Collected:
    """An outbox that keeps what a route emitted, for the caller to produce."""

    emitted: list[tuple[str, Any, str | bytes | None, list[tuple[str, bytes]]]] = field(default_factory=list)

    def emit(self, topic: str, value: Any, key: str | bytes | None = None,
             headers: list[tuple[str, bytes]] | None = None) -> None:
        self.emitted.append((topic, value, key, list(headers or [])))


@dataclass
class Outcome:
    """What one input produced: records to produce, and deliveries to acknowledge after."""

    records: list[Record] = field(default_factory=list)
    delivered: list[Delivered] = field(default_factory=list)
    dead_lettered: int = 0


class InputRunner:
    """Run records through a route and encode the outputs; dead-letter permanent failures."""

    def __init__(self, runner: RouteRunner, codec: Codec, retry: RetryPolicy,
                 metrics: RouterMetrics | None = None, clock: Callable[[], float] = time.time) -> None:
        self.runner, self.codec, self.retry, self.metrics, self.clock = runner, codec, retry, metrics, clock

    def run(self, records: list[Any], source: str, stream: str | None,
            headers_of: Callable[[int], dict[str, str]], outcome: Outcome) -> None:
        """Process ``records`` (numbered from 1); raises TransientError when retries ran out."""
        for number, record in enumerate(records, start=1):

            def handle(outbox: Collected, record: Any = record, number: int = number) -> Delivered:
                message = Message(record, headers_of(number))  # afresh for every attempt
                return self.runner.handle(message, Origin(stream, number), outbox)

            self._attempt(handle, record, source, number, headers_of(number), outcome)

    def resume(self, step: Step, message: Message, source: str, outcome: Outcome) -> None:
        """Run the route after ``step`` (an aggregate whose window closed) for ``message``, as
        :meth:`run` runs an input: retried, dead-lettered when it fails for good.

        Raises:
            TransientError: retries ran out.
        """

        def handle(outbox: Collected) -> Delivered:
            again = message.derive(body=copy.deepcopy(message.body))  # afresh for every attempt
            return self.runner.resume(step, [again], Origin(None, 0), outbox)

        self._attempt(handle, message.body, source, 0, message.headers, outcome)

    def _attempt(self, handle: Callable[[Collected], Delivered], record: Any, source: str, number: int,
                 headers: dict[str, str], outcome: Outcome) -> None:
        attempts, first = 0, 0.0

        def attempt() -> tuple[Delivered, list[Record]]:
            nonlocal attempts, first
            attempts += 1
            first = first or self.clock()
            outbox = Collected()
            done = handle(outbox)
            return done, [self._encode(*item) for item in outbox.emitted]

        try:
            done, produced = self.retry.call(attempt)
        except TransientError:
            raise
        except RouteFailure as exc:
            outcome.records.append(self._dead_letter(record, source, number, exc, attempts, first, headers))
            outcome.dead_lettered += 1
            return
        outcome.records += produced
        outcome.delivered.append(done)

    def _encode(self, topic: str, value: Any, key: str | bytes | None,
                headers: list[tuple[str, bytes]]) -> Record:
        try:
            return topic, self.codec.encode(topic, value), key, headers
        except TransientError:
            raise
        except Exception as exc:  # SerializationError, or a value the Avro writer cannot take
            raise route_failure(self.runner.route.name, f"to:kafka:{topic}", exc) from exc

    def _dead_letter(self, record: Any, source: str, number: int, exc: RouteFailure, attempts: int,
                     first: float, headers: dict[str, str]) -> Record:
        route = self.runner.route.name
        failure = Failure(SERVICE, route, STAGE_TRANSFORM, exc, attempts, first or self.clock(), self.clock(),
                          class_name=f"route:{route}", route=exc.route, step=exc.step)
        log.error("dead-lettering %s record %d in route %s step %s: %s", source, number, route, exc.step, exc)
        if self.metrics:
            self.metrics.child("dead_letters", route, exc.step).inc()
        original = [(k, v.encode()) for k, v in headers.items()]
        return (dlq_topic(SERVICE), to_json(record).encode(), None,
                dead_letter_headers(original, source, 0, number, failure))


class FileIngest:
    """Exactly-once processing of the files dropped for one ``file_in`` route.

    Args:
        inputs: runs records through the route.
        endpoint: the route's ``file_in`` endpoint.
        producer: a transactional producer of its own (``transactional.id`` per route).
        done: the replicated set of processed file hashes.
    """

    def __init__(self, inputs: InputRunner, endpoint: FileIn, producer: BusProducer, done: Any) -> None:
        self.inputs, self.endpoint, self.producer, self.done = inputs, endpoint, producer, done
        self.route = inputs.runner.route.name

    def start(self) -> None:
        self.endpoint.start()
        self.producer.raw.init_transactions(30)

    def poll_once(self) -> int:
        """Process every ready file, each in isolation (see the module's docstring); how many were tried."""
        files = self.endpoint.ready_files()
        for path in files:
            self.process_isolated(path)
        return len(files)

    def process_isolated(self, path: Path) -> None:
        """Process one file; whatever goes wrong ends with the file in ``error/`` or, transient, in place."""
        try:
            self.process(path)
        except TransientError as exc:
            log.warning("file %s: %s; left in place, tried again at the next poll", path.name, exc)
        except FileNotFoundError:
            log.info("file %s vanished before it was processed", path.name)
        except Exception as exc:
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error("file %s: processing failed with %s; moving it to error/\n%s", path.name,
                      type(exc).__name__, frames)
            self._set_aside(path, f"{path.name}: processing failed with {type(exc).__name__} "
                                  f"(the router's log has where)", "failed")

    def _set_aside(self, path: Path, reason: str, outcome: str) -> None:
        try:
            self.endpoint.move(path, "error", reason)
        except OSError as exc:
            log.error("file %s cannot be moved to error/ (%s); it stays in place", path.name,
                      exc.strerror)
        self._count(outcome)

    def _count(self, outcome: str) -> None:
        if self.inputs.metrics:
            self.inputs.metrics.child("files", self.route, outcome).inc()

    def process(self, path: Path) -> None:
        """Process one file exactly once (see the module's docstring).

        Raises:
            TransientError: the file's transaction failed; the file stays in place.
            Exception: anything unforeseen (:meth:`process_isolated` sets the file aside).
        """
        data = path.read_bytes()
        digest = self.endpoint.fingerprint(data)
        file_id = f"{self.route}:{digest}"
        if self.done.seen(file_id):
            self.endpoint.move(path, "done")
            self._count("done")
            return
        try:
            records = self.endpoint.records(data)
        except FormatError as exc:
            log.error("file %s cannot be read: %s", path.name, exc)
            fmt = self.endpoint.config.format
            self._set_aside(path, f"{path.name}: cannot be read as {fmt}: {exc}", "unreadable")
            if self.inputs.metrics:
                self.inputs.metrics.child("dead_letters", self.route, "from:file_in").inc()
            return
        log.info("file %s: processing %d records", path.name, len(records))
        outcome = Outcome()
        headers = {"file.name": path.name, "file.sha256": digest}
        self.inputs.run(records, f"file:{path.name}", f"file:{digest[:16]}",
                        lambda n: {**headers, "file.row": str(n)}, outcome)
        self._commit(outcome, file_id)
        for delivered in outcome.delivered:
            delivered.acknowledged()
        reason = (f"{outcome.dead_lettered} of {len(records)} records dead-lettered to dlq.router"
                  if outcome.dead_lettered else None)
        self.endpoint.move(path, "done", reason)
        self._count("done")
        log.info("file %s: %d records, %d outputs, %d dead-lettered", path.name, len(records),
                 len(outcome.records) - outcome.dead_lettered, outcome.dead_lettered)

    def _commit(self, outcome: Outcome, file_id: str) -> None:
        raw = self.producer.raw
        try:
            raw.begin_transaction()
            for topic, value, key, headers in outcome.records:
                self.producer.produce(topic, value, key=key, headers=headers)
            mark = str(int(time.time() * 1000)).encode()
            self.producer.produce(self.done.topic, mark, key=file_id.encode())
            raw.commit_transaction(60)
        except KafkaException as exc:
            with contextlib.suppress(KafkaException):
                raw.abort_transaction(30)
            raise TransientError(f"file transaction failed: {exc}") from exc
        except BaseException:  # never leave the transaction open for the next file
            with contextlib.suppress(KafkaException):
                raw.abort_transaction(30)
            raise


class WindowOutlet:
    """Delivers the groups a route's aggregates close by time, the way the route's inputs are.

    The rest of the route runs for the group (:meth:`InputRunner.resume`: retried, a permanent
    failure dead-lettered with the group as its record), then its outputs are produced in one
    Kafka transaction when the route's outputs are transactional (a ``file_in`` route, a Kafka
    route running exactly-once), else each is confirmed by the broker. Only then does the group
    leave its spool (:meth:`WindowClose.acknowledged`); when delivery failed it is opened again
    for the next tick (:meth:`WindowClose.failed`).

    Args:
        inputs: runs the route (and encodes, dead-letters) for the route's runner.
        producer: transactional (``transactional.id`` per route) when ``transactional``.
        transactional: produce each group's outputs in one transaction.
    """

    def __init__(self, inputs: InputRunner, producer: BusProducer, transactional: bool) -> None:
        self.inputs, self.producer, self.transactional = inputs, producer, transactional

    def start(self) -> None:
        if self.transactional:
            self.producer.raw.init_transactions(30)

    def deliver(self, step: Step, close: WindowClose) -> None:
        """Deliver one closed group; raises TransientError (the group opened again) when it could not."""
        outcome = Outcome()
        try:
            self.inputs.resume(step, close.message, f"aggregate:{step.name}", outcome)
            self._produce(outcome.records)
        except BaseException:
            close.failed()
            raise
        for delivered in outcome.delivered:
            delivered.acknowledged()
        close.acknowledged()

    def _produce(self, records: list[Record]) -> None:
        if not self.transactional:
            for topic, value, key, headers in records:
                self.producer.confirm(topic, value, key, headers, timeout=30)
            return
        raw = self.producer.raw
        try:
            raw.begin_transaction()
            for topic, value, key, headers in records:
                self.producer.produce(topic, value, key=key, headers=headers)
            raw.commit_transaction(60)
        except KafkaException as exc:
            with contextlib.suppress(KafkaException):
                raw.abort_transaction(30)
            raise TransientError(f"window transaction failed: {exc}") from exc
        except BaseException:
            with contextlib.suppress(KafkaException):
                raw.abort_transaction(30)
            raise
