"""Replays the console runs: planned from positions, run in the background, followed on a page.

A replay of thousands of records at ``ECOMBUS_CONSOLE_REPLAY_RATE_PER_SECOND`` takes minutes, longer
than a browser or a proxy waits for an answer; so a confirmed replay becomes a :class:`ReplayJob`
run in a thread, and its page shows how far it got. Every job of the process shares one token
bucket (``console.extras["dead_letters.bucket"]``), so two people replaying at once still stay
under the rate. A job is at most ``ECOMBUS_CONSOLE_REPLAY_MAX_RECORDS`` records.

What a job does for each dead letter is :mod:`bus.ops.replay`'s: produce (acks=all), wait for the
broker, write the audit record (service ``console``, actor the person); then the console marks it
replayed in the index and moves the replay group ``ecombus.dlq-replay.<service>`` over a leading
run of replayed records (so ``ecombus dlq replay`` does not put them back a second time).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bus.ops.decoding import Decoded, decode_value
from bus.ops.editing import Editable, editable
from bus.ops.replay import Encoder, Position, Replay, Replayer, ReplayProgress, plan
from bus.runtime.handlers import Consumed
from bus.runtime.rate import TokenBucket
from services.console import SERVICE
from services.console.context import Console
from services.console.dead_letter_source import DeadLetterSource

log = logging.getLogger(__name__)

JOBS, BUCKET, RUN, AUDIT_CODEC = ("dead_letters.jobs", "dead_letters.bucket", "dead_letters.run",
                                  "dead_letters.audit_codec")
"""``console.extras`` keys: the jobs, the shared rate limit, how a job is started (a thread; tests
run it at once) and the audit records' codec (Avro through the console's registry by default)."""
KEPT_JOBS = 50
CHUNK = 500


class Unavailable(Exception):
    """The console cannot replay (no producer, no registry for the audit records): says what is missing."""


@dataclass
class ReplayJob:
    """One confirmed replay and how it goes.

    Attributes:
        id: its page is ``/dead-letters/replays/<id>``.
        actor / handler: who asked, and ``replay`` or ``edit-and-replay``.
        positions: the dead letters asked for; ``missing``: those no longer in their topic.
        progress: produced, acknowledged, failed, audited (:class:`~bus.ops.replay.ReplayProgress`).
    """

    id: str
    actor: str
    handler: str
    positions: list[Position]
    started_ms: int
    progress: ReplayProgress = field(default_factory=ReplayProgress)
    missing: list[Position] = field(default_factory=list)
    finished_ms: int | None = None


class Replays:
    """Plans and runs the console's replays (module docstring)."""

    def __init__(self, console: Console, source: DeadLetterSource) -> None:
        self.console, self.source = console, source
        extras = console.extras
        self.jobs: dict[str, ReplayJob] = extras.setdefault(JOBS, {})
        rate = console.settings.replay_rate_per_second
        self.bucket: TokenBucket = extras.setdefault(BUCKET, TokenBucket(rate))
        self.run: Callable[[Callable[[], None]], None] = extras.get(RUN) or _in_background

    def replay_of(self, record: Consumed, actor: str, *, value: bytes | None = None) -> Replay:
        """The replay of one dead letter (its audit record says which order it is about when known)."""
        where = Position(record.topic, record.partition, record.offset)
        row = self.source.rows_at([where]).get(where) if self.source.indexed else None
        target = plan(record, actor).topic  # (raises when the dead letter does not say where it came from)
        decoded = self.decode(target, value if value is not None else record.value)
        meta = decoded.value.get("meta") if isinstance(decoded.value, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        order_id = getattr(row, "order_id", None) or _text(decoded.value, "order_id")
        return plan(record, actor, value=value, edited=value is not None, order_id=order_id,
                    correlation_id=_text(meta, "correlation_id"), event_id=_text(meta, "event_id"))

    def decode(self, topic: str, data: bytes | None) -> Decoded:
        """A value as the pages show it (Avro through the registry, JSON, text or bytes)."""
        return decode_value(self.console.decoder, topic, data)

    def editable(self, record: Consumed, topic: str) -> tuple[Decoded, Editable]:
        """The record's value decoded, and as a person edits it (guided by its writer schema)."""
        decoded = self.decode(topic, record.value)
        schema = None
        if decoded.kind == "avro" and decoded.schema_id is not None and self.console.decoder is not None:
            schema = self.console.decoder.writer_schema(decoded.schema_id)
        return decoded, editable(decoded, record.value, schema)

    def start(self, positions: Sequence[Position], actor: str) -> ReplayJob:
        """Replay the dead letters at ``positions`` (read again from their topics) in a new job."""
        replayer = self.replayer()
        job = self._job(actor, "replay", positions)

        def replays() -> Iterator[Replay]:
            for start in range(0, len(positions), CHUNK):
                chunk = positions[start:start + CHUNK]
                records = self.source.records(chunk)
                for p in chunk:
                    if p in records:
                        yield self.replay_of(records[p], actor)
                    else:
                        job.missing.append(p)

        self.run(lambda: self._execute(job, replayer, replays()))
        return job

    def start_edited(self, replay: Replay, actor: str) -> ReplayJob:
        """Replay one edited dead letter in a new job."""
        replayer = self.replayer()
        job = self._job(actor, "edit-and-replay", [replay.source])
        self.run(lambda: self._execute(job, replayer, iter([replay])))
        return job

    def replayer(self) -> Replayer:
        """The producer, rate limit and audit of every replay.

        Raises:
            Unavailable: no producer or no way to encode the audit records.
        """
        if self.console.producer is None:
            raise Unavailable("this console has no producer (ECOMBUS_CONSOLE wiring): it cannot replay")
        return Replayer(self.console.producer, self._audit_codec(), bucket=self.bucket, service=SERVICE,
                        clock=self.console.clock)

    def _audit_codec(self) -> Encoder:
        codec: Encoder | None = self.console.extras.get(AUDIT_CODEC)
        if codec is None:
            if self.console.decoder is None:
                raise Unavailable("this console has no schema registry: replays need it for their audit "
                                  "records")
            from bus.serde.avro import AvroEncoder

            codec = AvroEncoder(self.console.decoder.registry)
            self.console.extras[AUDIT_CODEC] = codec
        return codec

    def _job(self, actor: str, handler: str, positions: Sequence[Position]) -> ReplayJob:
        job = ReplayJob(uuid.uuid4().hex[:12], actor, handler, list(positions),
                        int(self.console.clock() * 1000))
        job.progress.total = len(positions)
        self.jobs[job.id] = job
        for old in list(self.jobs)[:-KEPT_JOBS]:
            del self.jobs[old]
        return job

    def _execute(self, job: ReplayJob, replayer: Replayer, replays: Iterator[Replay]) -> None:
        done: set[Position] = set()

        def replayed(replay: Replay) -> None:
            done.add(replay.source)
            self.source.mark_replayed(replay.source, job.actor)

        try:
            replayer.run(replays, job.actor, job.handler, progress=job.progress, on_replayed=replayed)
            self._advance(done)
        except Exception as exc:
            log.exception("replay %s failed", job.id)
            job.progress.error = job.progress.error or f"failed: {exc}"
        finally:
            job.progress.finished = True
            job.finished_ms = int(self.console.clock() * 1000)
            log.info("%s replayed %d of %d dead letter(s) (job %s)", job.actor,
                     len(job.progress.acknowledged), len(job.positions), job.id)

    def _advance(self, done: set[Position]) -> None:
        """Move each touched replay group over its leading run of replayed records."""
        for topic in sorted({p.topic for p in done}):
            partitions = sorted({p.partition for p in done if p.topic == topic})

            def replayed(partition: int, offset: int, topic: str = topic) -> bool:
                where = Position(topic, partition, offset)
                return where in done or self.source.replayed(where)

            try:
                self.source.reader.advance(self.source.topics[topic], replayed, partitions)
            except Exception as exc:  # the commit is a convenience for `ecombus dlq`: never fail a job
                log.warning("could not move the replay group of %s: %s", topic, exc)


def _in_background(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="dead-letter-replay", daemon=True).start()


def _text(value: Any, name: str) -> str | None:
    found = value.get(name) if isinstance(value, dict) else None
    return found if isinstance(found, str) and found else None
