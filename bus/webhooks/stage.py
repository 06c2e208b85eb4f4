"""The exactly-once stage behind a raw intake: each delivery interpreted once per dedupe key.

A service that receives deliveries through :mod:`bus.webhooks.intake` declares a consumer
service on its intake topic made a :class:`~bus.runtime.service.Stage` by :func:`intake_stage`,
and registers an :class:`Interpreter` as the topic's handler::

    stage, dedupe = intake_stage(SERVICE, kafka.client_config(), "intake.storefronts.v1",
                                 "order-capture.intake.changelog", ttl=settings.dedupe_ttl_seconds)
    service = Service(SERVICE, ..., stage=stage)
    service.handler("intake.storefronts.v1", name="interpret")(Interpreter(dedupe, capture.interpret))
    service.on_start(prepare_intake(client, SERVICE, dedupe, settings.max_body_bytes))

For each ``RawDelivery`` the interpreter rebuilds the verified :class:`~bus.webhooks.endpoint.Delivery`,
asks the service what it means (a :class:`~bus.webhooks.publication.Publication`: its dedupe keys and
its records) and, unless one of those keys was handled before (the outcome is then
``duplicate``), emits the records and the keys' changelog marks; a combined publication's parts
are decided one by one (the new ones are published, the outcome is ``duplicate`` only when none
is). The loop produces them, the
audit record and the consumed offset in one transaction. A delivery that cannot be interpreted
(:class:`~bus.errors.PermanentError`, or a built-in error of reading the payload, reported by
field) is dead-lettered by the loop with the raw delivery's bytes; a
:class:`~bus.errors.TransientError` (an API the interpretation needs) is retried within the
stage's budget first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bus.runtime.audit import AUDIT_TOPIC
from bus.runtime.dedupe_state import DedupeState
from bus.runtime.dlq import dlq_topic
from bus.runtime.handlers import Context, Duplicate
from bus.runtime.service import Stage, instance_id
from bus.settings import ClientConfig
from bus.topics import TopicSpec, ensure_topics
from bus.webhooks.body import parse_json_object
from bus.webhooks.endpoint import Delivery, checked
from bus.webhooks.intake import record_bytes
from bus.webhooks.publication import Publication

STAGE_CONSUMER_OVERRIDES: tuple[tuple[str, Any], ...] = (
    ("session.timeout.ms", 10_000),   # a killed replica's partitions move on within seconds
    ("heartbeat.interval.ms", 1_000),
    ("max.poll.interval.ms", 120_000),
    ("fetch.wait.max.ms", 20),        # measured: a delivery's p99 wait before interpretation 650 → 130 ms
)


STAGE_PRODUCER_OVERRIDES: tuple[tuple[str, Any], ...] = (
    # a transaction begun right after the previous one is answered CONCURRENT_TRANSACTIONS until
    # the previous one's markers are written; retried after retry.backoff.ms (100 ms by default)
    ("retry.backoff.ms", 10),
    ("linger.ms", 1),                 # the commit flushes anyway; nothing to gain from waiting
)


def intake_stage(service: str, client: ClientConfig, intake_topic: str, changelog: str, *, ttl: float,
                 max_body_bytes: int, folder: Path | None = None, group_id: str | None = None,
                 instance: str | None = None) -> tuple[Stage, DedupeState]:
    """The stage (group ``ecombus.<service>.intake``, transactional id ``<group>.txn.<instance>``)
    and its dedupe state for ``intake_topic``; declare :func:`prepare_intake` as a start step and
    ``dedupe.close`` as a closer. ``instance`` names this replica (``ECOMBUS_INSTANCE_ID``;
    default ``<host>-<pid>``): replicas alive at once must have different ones."""
    group = group_id or f"ecombus.{service}.intake"
    dedupe = DedupeState(client, intake_topic, changelog, ttl=ttl, folder=folder)
    stage = Stage(group_id=group, transactional_id=f"{group}.txn.{instance_id(instance)}", state=(dedupe,),
                  consumer_overrides=STAGE_CONSUMER_OVERRIDES,
                  producer_overrides=(("message.max.bytes", record_bytes(max_body_bytes)),
                                      *STAGE_PRODUCER_OVERRIDES))
    return stage, dedupe


def prepare_intake(client: ClientConfig, service: str, dedupe: DedupeState,
                   max_body_bytes: int) -> Callable[[], None]:
    """The stage's start step: the topics its transactions write besides its outputs exist before
    it consumes (a record to a missing topic would fail every transaction): its dead-letter topic
    (room for a raw delivery at the size limit), the audit topic (as ``deploy/topics.yaml``
    declares it, when missing) and its changelog."""

    def prepare() -> None:
        ensure_topics(client, [TopicSpec(name=dlq_topic(service), partitions=1,
                                         config={"retention.ms": str(30 * 86_400_000),
                                                 "max.message.bytes": str(record_bytes(max_body_bytes))}),
                               TopicSpec(name=AUDIT_TOPIC, partitions=6,
                                         config={"retention.ms": str(14 * 86_400_000)})])
        dedupe.ensure_changelog()

    return prepare


def delivery_of(raw: Mapping[str, Any]) -> Delivery:
    """The verified delivery a ``RawDelivery`` (as decoded) holds.

    Raises:
        FormatError: the body is not a JSON object (only possible for a replayed, edited record).
    """
    meta = raw["meta"]
    source = meta["source"]
    occurred = meta["occurred_at"]
    received_at = occurred.timestamp() if hasattr(occurred, "timestamp") else int(occurred) / 1000.0
    body = bytes(raw["body"])
    return Delivery(source["platform"], raw["path"], dict(raw["headers"]), body, parse_json_object(body),
                    received_at, channel=raw["channel"], delivery_id=meta["event_id"],
                    tenant=source["system"], identity=raw["identity"], topic=raw["topic"])


class Interpreter:
    """The handler of an intake stage (see the module docstring).

    Args:
        dedupe: the stage's dedupe state.
        interpret: what a delivery means (the service's rules); raise to dead-letter it.
    """

    def __init__(self, dedupe: DedupeState, interpret: Callable[[Delivery], Publication]) -> None:
        self.dedupe, self.interpret = dedupe, interpret

    def __call__(self, raw: Mapping[str, Any], ctx: Context) -> None:
        delivery = delivery_of(raw)
        ctx.order_id = ctx.order_id or delivery.identity  # a dead letter's audit record names its order
        publication = checked(delivery.platform, self.interpret, delivery)
        subject = next((getattr(r.value, "order_id", None) for r in publication.records), None)
        ctx.order_id = subject or ctx.order_id
        if not publication.records:
            ctx.log.debug("delivery %s ignored: %s", delivery.delivery_id, publication.note)
            return
        partition, published = ctx.partition, 0
        for part in publication.parts or (publication,):
            if any(self.dedupe.seen(partition, key) for key in part.dedupe_keys):
                continue
            for record in part.records:
                ctx.emit(record.topic, record.value, record.key, record.headers)
            for key in part.dedupe_keys:
                ctx.outputs.append(self.dedupe.mark(partition, key))
            published += 1
        if not published:
            raise Duplicate()
