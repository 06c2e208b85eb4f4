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
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from bus.errors import FormatError, SerializationError, TransientError
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
            attempts, first = 0, 0.0

            def attempt(record: Any = record, number: int = number) -> tuple[Delivered, list[Record]]:
                nonlocal attempts, first
                attempts += 1
                first = first or self.clock()
                outbox = Collected()
                done = self.runner.handle(Message(record, headers_of(number)), Origin(stream, number), outbox)
                return done, [self._encode(*item) for item in outbox.emitted]

            try:
                done, produced = self.retry.call(attempt)
            except TransientError:
                raise
            except RouteFailure as exc:
                outcome.records.append(self._dead_letter(record, source, number, exc, attempts, first,
                                                         headers_of(number)))
                outcome.dead_lettered += 1
                continue
            outcome.records += produced
            outcome.delivered.append(done)

    def _encode(self, topic: str, value: Any, key: str | bytes | None,
                headers: list[tuple[str, bytes]]) -> Record:
        try:
            return topic, self.codec.encode(topic, value), key, headers
        except SerializationError as exc:
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
        """Process every ready file; how many were processed."""
        files = self.endpoint.ready_files()
        for path in files:
            self.process(path)
        return len(files)

    def process(self, path: Path) -> None:
        data = path.read_bytes()
        digest = self.endpoint.fingerprint(data)
        file_id = f"{self.route}:{digest}"
        if self.done.seen(file_id):
            self.endpoint.move(path, "done")
            return
        try:
            records = self.endpoint.records(data)
        except FormatError as exc:
            log.error("file %s cannot be read: %s", path.name, exc)
            fmt = self.endpoint.config.format
            self.endpoint.move(path, "error", f"{path.name}: cannot be read as {fmt}: {exc}")
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
