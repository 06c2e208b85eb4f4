"""The consumer loop every service runs: batched, at-least-once (or exactly-once), never stuck.

At-least-once (default): a batch is consumed, each message is decoded and handled (retried
within the policy's budget on transient errors, dead-lettered otherwise), and the handlers'
outputs and dead letters are produced. The loop does not wait for them: per partition it keeps
the handled messages in offset order and, as the broker acknowledges outputs, stores the offset
after the last message whose outputs (and those of every message before it) were acknowledged
(``enable.auto.offset.store=false``); auto-commit commits stored offsets, and the loop drains
and commits synchronously on revoke and at shutdown. A failed delivery rewinds its partition to
the message that produced it, so nothing unacknowledged is ever committed.

Exactly-once (``exactly_once=True``, Kafka-to-Kafka handlers): each batch is one transaction
holding the outputs, the dead letters and the consumed offsets
(``send_offsets_to_transaction``); an abortable error aborts it and rewinds the consumer to the
committed offsets. Readers of the outputs use ``isolation.level=read_committed``.

State owned partition by partition (:class:`PartitionState`, e.g.
:class:`~bus.runtime.dedupe_state.DedupeState`) follows the transactions: it is restored when a
partition is assigned (before its first message is handled), a handler's writes to it are kept
per message (a retried or dead-lettered attempt leaves none), and they become the state only when
the transaction holding their changelog records commits (an abort forgets them). Several
replicas may run the same group, each with its own ``transactional_id``: the group gives each
partition one owner, and the group metadata sent with the offsets fences a former owner that did
not notice it lost the partition (KIP-447).

A dead letter replayed for one service (header ``ecombus.replay.for``, :mod:`bus.runtime.dlq`)
goes back on a topic other services may consume too: every other service's loop hands it to no
handler, counts it as ``skipped`` and moves its offset on as for a handled message.

A handler's :meth:`Context.after_acknowledged` actions run once its message's outputs were
acknowledged (at-least-once: as its offset is stored) or committed (exactly-once), never after a
failed delivery or an aborted transaction: state that must outlive a crash only once its outputs
are safe (the router's aggregate groups, dedupe marks) is released there.

Backpressure: at most ``max_in_flight`` handled messages wait for acknowledgements before
the loop stops consuming to let them drain; and when the producer's queue grows past
``max_pending`` (e.g. audit records to a slow broker) the assignment is paused until it
drains. Shutdown (``stop`` set, e.g. by SIGTERM) finishes the batch in hand, waits for its
acknowledgements, commits and closes within ``shutdown_timeout``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from bus.errors import SerializationError
from bus.runtime.codec import Codec
from bus.runtime.dlq import STAGE_DECODE, STAGE_HANDLER, Failure, dead_letter_headers, dlq_topic, replay_for
from bus.runtime.handlers import Consumed, Context, Duplicate, HandlerRegistry, HandlerSpec, Headers
from bus.runtime.hooks import RuntimeHooks
from bus.runtime.idempotency import ProcessedEvents
from bus.runtime.producer import BusProducer
from bus.runtime.retry import RetryPolicy
from bus.settings import ClientConfig

log = logging.getLogger("ecombus.runtime")


@dataclass(frozen=True)
class LoopOptions:
    """Tuning of the loop; every field has a safe default.

    ``retry.budget_seconds`` must stay well below ``max.poll.interval.ms`` (5 minutes by
    default), since a message being retried holds up its batch.
    """

    group_id: str
    batch_size: int = 500
    poll_timeout: float = 0.5
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    exactly_once: bool = False
    transactional_id: str | None = None
    max_pending: int = 50_000
    max_in_flight: int = 5_000
    shutdown_timeout: float = 30.0
    delivery_timeout: float = 60.0
    transaction_timeout: float = 60.0
    producer_overrides: tuple[tuple[str, Any], ...] = ()


class PartitionState(Protocol):
    """State an exactly-once loop keeps per assigned partition, in step with its transactions.

    The loop calls, from its own thread: :meth:`assigned` from the rebalance callback, before
    any message of those partitions is handled; :meth:`attempt_started` before each attempt at a
    message; :meth:`message_done` once a message was handled successfully (its writes join the
    transaction's); :meth:`committed` / :meth:`aborted` after the transaction's outcome;
    :meth:`revoked` when partitions go (also when lost).
    """

    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None: ...

    def revoked(self, partitions: list[TopicPartition]) -> None: ...

    def attempt_started(self) -> None: ...

    def message_done(self) -> None: ...

    def committed(self) -> None: ...

    def aborted(self) -> None: ...


def consumer_config(client: ClientConfig, options: LoopOptions, **overrides: Any) -> ClientConfig:
    """librdkafka settings for the loop's consumer; explicit overrides win."""
    config: ClientConfig = {
        **client,
        "group.id": options.group_id,
        "auto.offset.reset": "earliest",
        "enable.auto.offset.store": False,
        "enable.auto.commit": not options.exactly_once,
        "partition.assignment.strategy": "cooperative-sticky",
        "isolation.level": "read_committed",
    }
    config.update(overrides)
    return config


class _Record(NamedTuple):
    """A record to produce for a handled message: an output or its dead letter."""

    topic: str
    key: str | bytes | None
    value: bytes | None
    headers: Headers
    timestamp: int | None = None
    partition: int | None = None


class _Pending:
    """A handled message waiting for its outputs' acknowledgements (the delivery callback)."""

    __slots__ = ("acknowledged", "failed", "msg", "outstanding")

    def __init__(self, msg: Consumed) -> None:
        self.msg = msg
        self.outstanding = 0
        self.failed = False
        self.acknowledged: list[Callable[[], None]] = []

    def __call__(self, err: KafkaError | None, _msg: Message) -> None:
        self.outstanding -= 1
        if err is not None:
            self.failed = True


class ConsumerLoop:
    """Consume the registry's topics and run each message through its handler.

    Args:
        service: the service name (DLQ topic, metrics, audit).
        handlers: the service's handlers by topic.
        client_config: Kafka client settings (``KafkaSettings.client_config()``).
        codec: decodes consumed values and encodes outputs.
        options: see :class:`LoopOptions`.
        producer: shared producer; a transactional one is created in exactly-once mode.
        processed: dedupe store, required when a handler has side effects.
        state: per-partition state kept in step with the transactions (exactly-once only).
        hooks: metrics, health, audit and logging callbacks.
        sleep/clock: injectable for tests.
    """

    def __init__(self, service: str, handlers: HandlerRegistry, client_config: ClientConfig,
                 codec: Codec, options: LoopOptions, *, producer: BusProducer | None = None,
                 processed: ProcessedEvents | None = None, hooks: RuntimeHooks | None = None,
                 consumer_overrides: dict[str, Any] | None = None,
                 state: tuple[PartitionState, ...] = (),
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.handlers = handlers
        self.codec = codec
        self.options = options
        self.hooks = hooks or RuntimeHooks(service)
        self.processed = processed
        if state and not options.exactly_once:
            raise ValueError("partition state follows transactions: it needs exactly_once=True")
        self.state = state
        self._sleep, self._clock = sleep, clock
        self._client_config = client_config
        self._consumer_config = consumer_config(client_config, options, **(consumer_overrides or {}))
        if options.exactly_once:
            txn_id = options.transactional_id or f"{options.group_id}.txn"
            producer = BusProducer(client_config, on_failure=self.hooks.delivery_failed,
                                   **{**dict(options.producer_overrides), "transactional.id": txn_id,
                                      "transaction.timeout.ms": int(options.transaction_timeout * 1000)})
        self.producer = producer or BusProducer(client_config, on_failure=self.hooks.delivery_failed,
                                                **dict(options.producer_overrides))
        self._consumer: Consumer | None = None
        self._assigned: set[tuple[str, int]] = set()
        self._in_flight: dict[tuple[str, int], deque[_Pending]] = {}
        self.stopped = threading.Event()

    @property
    def assigned(self) -> set[tuple[str, int]]:
        """(topic, partition) pairs currently assigned to this member."""
        return set(self._assigned)

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set, then drain, commit and close."""
        consumer = Consumer(self._consumer_config)
        self._consumer = consumer
        if self.options.exactly_once:
            self.producer.raw.init_transactions(30)
        consumer.subscribe(self.handlers.topics, on_assign=self._on_assign,
                           on_revoke=self._on_revoke, on_lost=self._on_lost)
        self.hooks.started()
        try:
            while not stop.is_set():
                self.hooks.beat()
                self._relieve_backpressure(consumer)
                batch = consumer.consume(num_messages=self.options.batch_size,
                                         timeout=self.options.poll_timeout)
                messages = [Consumed.of(m) for m in batch if self._usable(m)]
                if self.options.exactly_once:
                    if messages:
                        self._run_transaction(consumer, messages)
                else:
                    self._run_batch(consumer, messages)
        finally:
            self._shutdown(consumer)

    def _usable(self, msg: Message) -> bool:
        err = msg.error()
        if err is None:
            return True
        if err.code() != KafkaError._PARTITION_EOF:
            level = logging.ERROR if err.fatal() else logging.WARNING
            log.log(level, "consumer error: %s", err)
        return False

    # -- at-least-once -------------------------------------------------------------------------

    def _run_batch(self, consumer: Consumer, messages: list[Consumed]) -> None:
        """Handle a batch and queue its outputs; offsets advance as acknowledgements arrive."""
        for msg in messages:
            self._in_flight.setdefault((msg.topic, msg.partition), deque()).append(self._process(msg))
        self.producer.poll(0)
        self._store_acknowledged(consumer)
        while self._unacknowledged() > self.options.max_in_flight:  # backpressure
            self.producer.poll(0.05)
            self._store_acknowledged(consumer)

    def _unacknowledged(self) -> int:
        return sum(len(items) for items in self._in_flight.values())

    def _store_acknowledged(self, consumer: Consumer) -> None:
        """Store the offset after the last message of each partition whose outputs (and those of
        every message before it) were acknowledged; rewind a partition to a failed delivery."""
        offsets = []
        for (topic, partition), items in self._in_flight.items():
            done: _Pending | None = None
            while items and items[0].outstanding == 0:
                item = items.popleft()
                if item.failed:
                    log.warning("outputs of %s[%d]@%d not acknowledged; rewinding", topic, partition,
                                item.msg.offset)
                    self._release_claims()
                    consumer.seek(TopicPartition(topic, partition, item.msg.offset))
                    items.clear()
                    break
                _run_all(item.acknowledged)
                done = item
            if done is not None and (topic, partition) in self._assigned:
                offsets.append(TopicPartition(topic, partition, done.msg.offset + 1))
        if offsets:
            try:
                consumer.store_offsets(offsets=offsets)
            except KafkaException as exc:  # a partition was revoked meanwhile
                log.info("could not store offsets: %s", exc)

    def _drain(self, consumer: Consumer, timeout: float) -> None:
        """Wait for every queued output, then store what was acknowledged."""
        left = self.producer.flush(timeout)
        if left:
            log.error("%d records still unacknowledged after %.0fs", left, timeout)
        self._store_acknowledged(consumer)

    def _process(self, msg: Consumed) -> _Pending:
        """Handle one message and queue its outputs (or its dead letter)."""
        item = _Pending(msg)
        for record in self._outcome(msg, item.acknowledged):
            item.outstanding += 1
            self.producer.produce(record.topic, record.value, key=record.key, headers=record.headers,
                                  timestamp=record.timestamp, on_delivery=item, partition=record.partition)
        return item

    # -- the part both modes share -------------------------------------------------------------

    def _outcome(self, msg: Consumed, acknowledged: list[Callable[[], None]] | None = None) -> list[_Record]:
        """Decode, dedupe, handle with retries; return the records to produce (and add the
        handler's :meth:`Context.after_acknowledged` actions to ``acknowledged``)."""
        spec = self.handlers.for_topic(msg.topic)
        assert spec is not None, f"no handler for {msg.topic}"
        if msg.headers:
            meant_for = replay_for(msg.headers)
            if meant_for is not None and meant_for != self.service:
                self.hooks.skipped(spec, msg, f"a replay for {meant_for}")
                return []
        started = time.monotonic()
        attempts = _Attempts(self, msg, spec)
        try:
            records = self.options.retry.call(attempts, on_retry=attempts.retried, sleep=self._sleep)
        except (_Duplicate, Duplicate):
            self.hooks.handled(spec, msg, attempts.ctx, "duplicate", time.monotonic() - started)
            return []
        except Exception as exc:
            failure = Failure(self.service, spec.name, attempts.stage, exc, attempts.count,
                              attempts.first_failure or self._clock(), self._clock(),
                              class_name=_qualified_name(spec.fn),
                              route=getattr(exc, "route", None), step=getattr(exc, "step", None))
            self.hooks.dead_lettered(spec, msg, attempts.ctx, failure, time.monotonic() - started)
            headers = dead_letter_headers(msg.headers, msg.topic, msg.partition, msg.offset, failure)
            return [_Record(dlq_topic(self.service), msg.key, msg.value, headers, msg.timestamp_ms)]
        ctx = attempts.ctx
        assert ctx is not None
        if spec.side_effects and ctx.event_id and self.processed is not None:
            # marked once the outputs are acknowledged (committed): marked earlier, a rewind or a
            # crash before then would skip the event as a duplicate and its outputs would be lost
            # (claimed meanwhile: a second copy in flight is a duplicate; a rewind releases it)
            processed, event_id = self.processed, ctx.event_id
            if acknowledged is None:
                processed.mark(event_id)
            else:
                processed.claim(event_id)
                acknowledged.append(lambda: processed.mark(event_id))
        for state in self.state:
            state.message_done()
        self.hooks.handled(spec, msg, ctx, "ok", time.monotonic() - started)
        if acknowledged is not None:
            acknowledged.extend(ctx.acknowledged)
        return records

    def _context(self, msg: Consumed, event: Any, attempt: int) -> Context:
        meta = _meta(event)
        return Context(topic=msg.topic, partition=msg.partition, offset=msg.offset,
                       key=msg.key, headers=list(msg.headers),
                       timestamp_ms=msg.timestamp_ms, event_id=meta.get("event_id"),
                       correlation_id=meta.get("correlation_id"),
                       occurred_at_ms=_millis(meta.get("occurred_at")), attempt=attempt,
                       order_id=_field(event, "order_id"))

    # -- exactly-once --------------------------------------------------------------------------

    def _run_transaction(self, consumer: Consumer, messages: list[Consumed]) -> None:
        producer = self.producer.raw
        acknowledged: list[Callable[[], None]] = []
        started, budget = self._clock(), self.options.transaction_timeout / 2
        try:
            producer.begin_transaction()
            for index, msg in enumerate(messages):
                if index and self._clock() - started > budget:
                    # messages retried at length (an API down) must not run the transaction past
                    # its timeout (the broker would abort it, and the same batch again, forever):
                    # commit what is handled, the rest comes back with the next batch
                    self._put_back(consumer, messages[index:])
                    break
                for record in self._outcome(msg, acknowledged):
                    self.producer.produce(record.topic, record.value, key=record.key,
                                          headers=record.headers, timestamp=record.timestamp,
                                          partition=record.partition)
            positions = consumer.position(consumer.assignment())
            producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 30)
            producer.commit_transaction(self.options.delivery_timeout)
            _run_all(acknowledged)
        except KafkaException as exc:
            error = exc.args[0]
            self._release_claims()
            for state in self.state:
                state.aborted()
            if error.txn_requires_abort() or error.code() == KafkaError._STATE:
                # _STATE: a produce refused because the transaction is already in an abortable
                # error state (a broker lost under it); abort_transaction raises if it is fatal
                log.warning("transaction aborted (%s); rewinding to committed offsets", error)
                producer.abort_transaction(30)
                self._rewind(consumer)
            elif error.retriable():
                log.warning("transaction commit failed (%s); rewinding", error)
                producer.abort_transaction(30)
                self._rewind(consumer)
            else:
                raise
        else:
            for state in self.state:
                state.committed()

    def _put_back(self, consumer: Consumer, messages: list[Consumed]) -> None:
        """Seek each partition back to its first message of ``messages`` (not handled)."""
        first: dict[tuple[str, int], int] = {}
        for msg in messages:
            first.setdefault((msg.topic, msg.partition), msg.offset)
        for (topic, partition), offset in first.items():
            consumer.seek(TopicPartition(topic, partition, offset))
        log.info("transaction past half its timeout: %d message(s) put back for the next one", len(messages))

    def _rewind(self, consumer: Consumer) -> None:
        for tp in consumer.committed(consumer.assignment(), timeout=30):
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            consumer.seek(TopicPartition(tp.topic, tp.partition, offset))

    # -- rebalances, backpressure, shutdown ----------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for state in self.state:
            state.assigned(consumer, partitions)
        self._assigned |= {(p.topic, p.partition) for p in partitions}
        self.hooks.assigned(len(self._assigned))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if not self.options.exactly_once:
            self._drain(consumer, self.options.delivery_timeout)
            self._commit(consumer)
        self._forget(partitions)

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._forget(partitions)

    def _release_claims(self) -> None:
        if self.processed is not None:
            self.processed.release_claims()

    def _forget(self, partitions: list[TopicPartition]) -> None:
        self._release_claims()
        for state in self.state:
            state.revoked(partitions)
        for p in partitions:
            self._assigned.discard((p.topic, p.partition))
            self._in_flight.pop((p.topic, p.partition), None)
        self.hooks.assigned(len(self._assigned))

    def _commit(self, consumer: Consumer) -> None:
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("commit failed: %s", exc)

    def _relieve_backpressure(self, consumer: Consumer) -> None:
        if self.producer.pending() <= self.options.max_pending:
            return
        paused = consumer.assignment()
        consumer.pause(paused)
        log.info("producer queue at %d records; pausing consumption", self.producer.pending())
        while self.producer.pending() > self.options.max_pending // 2:
            self.producer.poll(0.1)
        consumer.resume(paused)

    def _shutdown(self, consumer: Consumer) -> None:
        if self.options.exactly_once:
            self.producer.flush(self.options.shutdown_timeout)
        else:
            self._drain(consumer, self.options.shutdown_timeout)
            self._commit(consumer)
        consumer.close()
        self.hooks.stopped()
        self.stopped.set()


def _run_all(actions: list[Callable[[], None]]) -> None:
    """Run a handled message's after-acknowledgement actions; one that raises is logged, not fatal."""
    for action in actions:
        try:
            action()
        except Exception:
            log.exception("an action after the acknowledgement failed")


class _Duplicate(Exception):
    """Internal: the event was already handled (not an error)."""


class _Attempts:
    """Handling one message, attempt after attempt (called by the retry policy).

    Keeps what dead-lettering and metrics need afterwards: how many attempts ran, when the
    first failed, the stage the last one reached and the handler's context.
    """

    __slots__ = ("count", "ctx", "first_failure", "loop", "msg", "spec", "stage")

    def __init__(self, loop: ConsumerLoop, msg: Consumed, spec: HandlerSpec) -> None:
        self.loop, self.msg, self.spec = loop, msg, spec
        self.count = 0
        self.first_failure: float | None = None
        self.stage = STAGE_DECODE
        self.ctx: Context | None = None

    def __call__(self) -> list[_Record]:
        loop, msg, spec = self.loop, self.msg, self.spec
        self.count += 1
        for state in loop.state:
            state.attempt_started()
        try:
            self.stage = STAGE_DECODE
            event = loop.codec.decode(msg.topic, msg.value or b"")
            if spec.model is not None:
                event = _typed(spec.model, event)
            self.ctx = ctx = loop._context(msg, event, self.count)
            self.stage = STAGE_HANDLER
            if spec.side_effects and ctx.event_id and loop.processed is not None \
                    and loop.processed.seen(ctx.event_id):
                raise _Duplicate()
            spec.fn(event, ctx)
            encode = loop.codec.encode
            return [_Record(o.topic, o.key, o.value if o.value is None or isinstance(o.value, bytes)
                            else encode(o.topic, o.value), o.headers, None, o.partition)
                    for o in ctx.outputs]
        except (_Duplicate, Duplicate, KeyboardInterrupt):
            raise
        except BaseException:
            self.first_failure = self.first_failure or loop._clock()
            raise

    def retried(self, number: int, exc: BaseException) -> None:
        self.loop.hooks.retried(self.spec, self.msg, number, exc)




def _qualified_name(fn: Any) -> str:
    """``module.qualname`` of a handler: a function, or a callable object (then its class's)."""
    named = fn if hasattr(fn, "__qualname__") else type(fn)
    return f"{named.__module__}.{named.__qualname__}"


def _meta(event: Any) -> dict[str, Any]:
    """The event's ``meta`` record as a dict (events are dicts or models with ``meta``)."""
    meta = _field(event, "meta")
    if meta is None:
        return {}
    if isinstance(meta, dict):
        return meta
    return {k: getattr(meta, k, None) for k in ("event_id", "correlation_id", "occurred_at")}


def _millis(value: Any) -> int | None:
    """Epoch millis from an int or a datetime (fastavro decodes timestamp-millis to datetime)."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    timestamp = getattr(value, "timestamp", None)
    return int(timestamp() * 1000) if callable(timestamp) else None


def _field(event: Any, name: str) -> Any:
    return event.get(name) if isinstance(event, dict) else getattr(event, name, None)


def _typed(model: Any, event: Any) -> Any:
    """The decoded dict as the handler's contract class; a mismatch is permanent."""
    try:
        return model.from_avro(event)
    except (KeyError, TypeError, ValueError) as exc:
        raise SerializationError(f"value does not fit {model.__name__}: {exc}") from exc
