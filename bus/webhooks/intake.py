"""The raw intake: every delivery an edge accepted, stored as it came before anyone interprets it.

An HTTP edge does only what must happen before it answers (media type, size, signature, tenant,
well-formed JSON) and then calls :meth:`IntakeLog.write`: the delivery becomes a
``RawDelivery`` (``schemas/RawDelivery.avsc``: body bytes, the headers that matter, platform,
tenant, the platform's event name, identity, received time and place) on an intake topic keyed
by its business identity, and the edge answers 2xx only once the broker acknowledged it with
``acks=all``. The exactly-once stage of the owning service reads the topic and decides what each
delivery means, once per dedupe key (:class:`bus.runtime.service.Stage`).

So the intake topic is the log of every transaction received, replayable; and since every
delivery of one business object (one order) shares a key, they share a partition, which has one
owner at a time: two replicas, a crash between the acknowledgement and the answer, a platform's
retry days later and a reconciliation pass can never decide the same key twice.

The edge's producer gives up on a record within the answer's budget (librdkafka
``message.timeout.ms``), so a delivery refused with a 503 cannot slip onto the topic later.

Sizes: a body the edge's limit accepts always fits the topic. :func:`intake_producer_overrides`
raises the producer's ``message.max.bytes`` to the limit plus :data:`ENVELOPE_ALLOWANCE_BYTES`,
and ``deploy/topics.yaml`` gives the intake topics (and the owning services' dead-letter topics)
the same ``max.message.bytes``.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bus.errors import SerializationError, TransientError, Unavailable
from bus.runtime.codec import Codec
from bus.runtime.handlers import Headers

if TYPE_CHECKING:
    from bus.observability.metrics import RuntimeMetrics

ACK_GRACE_SECONDS = 0.5
"""Waited beyond ``ack_timeout`` for librdkafka's own timeout report."""


def webhook_producer_overrides(ack_timeout: float) -> dict[str, Any]:
    """librdkafka settings for an HTTP-facing producer: give up on a record within the budget."""
    return {"message.timeout.ms": max(1000, int(ack_timeout * 1000)), "linger.ms": 2}


class Sender(Protocol):
    """What the intake needs of :class:`~bus.runtime.producer.BusProducer`."""

    async def confirm_async(self, topic: str, value: bytes | None, key: bytes | str | None = None,
                            headers: Headers | None = None, timeout: float = 3.0) -> tuple[int, int]: ...


ENVELOPE_ALLOWANCE_BYTES = 128 * 1024
"""Room for the envelope around a body at the size limit (headers, identity, framing)."""

HIDDEN_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
"""Headers never stored: credentials are not part of what was delivered."""

MAX_HEADER_VALUE_CHARS = 4096
"""Longer header values are cut (a platform's headers are short; the body is what counts)."""

WEBHOOK = "webhook"
RECONCILIATION = "reconciliation"


@dataclass(frozen=True)
class Identity:
    """What a delivery is about, told by the edge from the headers and the body, without mapping.

    Attributes:
        tenant: the shop, store or account (``hanako-tea.myshopify.com``, ``1025646``).
        key: the business identity, platform + tenant + resource id; the record key.
        topic: the platform's own event name (``orders/create``); "" when it sends none.
    """

    tenant: str
    key: str
    topic: str = ""


def record_bytes(max_body_bytes: int) -> int:
    """The largest raw delivery record for a body limit: what producers (``message.max.bytes``)
    and topics (``max.message.bytes``) that carry raw deliveries must take."""
    return max(1_000_000, max_body_bytes + ENVELOPE_ALLOWANCE_BYTES)


def intake_producer_overrides(ack_timeout: float, max_body_bytes: int) -> dict[str, Any]:
    """librdkafka settings of an edge's producer: give up within the answer's budget, and take
    any body the edge accepts (:func:`record_bytes`)."""
    return {**webhook_producer_overrides(ack_timeout), "message.max.bytes": record_bytes(max_body_bytes)}


class IntakeLog:
    """Stores raw deliveries on one intake topic, acknowledged before it returns.

    Args:
        producer: a started producer (its poll thread serves the acknowledgements).
        codec: encodes the envelope (``RawDelivery``, Avro through the registry).
        topic: the intake topic (``intake.storefronts.v1``).
        service: who receives (``received_by`` is ``<service>@<host>``; metrics label).
        ack_timeout: seconds the broker has to acknowledge (else :class:`~bus.errors.Unavailable`).
        metrics: counts stored deliveries in ``ecombus_messages_produced_total``.
        clock: wall clock.
    """

    def __init__(self, producer: Sender, codec: Codec, topic: str, service: str, *,
                 ack_timeout: float = 3.0, metrics: RuntimeMetrics | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.producer, self.codec, self.topic, self.service = producer, codec, topic, service
        self.ack_timeout, self._clock = ack_timeout, clock
        self.received_by = f"{service}@{socket.gethostname()}"
        self._produced = metrics.produced.labels(service, topic) if metrics is not None else None

    def envelope(self, platform: str, identity: Identity, channel: str, path: str,
                 headers: Mapping[str, str], body: bytes, received_at: float,
                 remote_addr: str | None = None) -> dict[str, Any]:
        """The ``RawDelivery`` of one delivery, as an Avro-ready dict.

        Its delivery id is 128 random bits (Python's generator, seeded from the OS at start): unique
        without a system call per request, which under load costs more than all the rest here.
        """
        return {
            "meta": {"event_id": f"{random.getrandbits(128):032x}", "occurred_at": int(received_at * 1000),
                     "source": {"platform": platform, "system": identity.tenant},
                     "correlation_id": identity.key, "causation_id": None},
            "identity": identity.key,
            "channel": channel,
            "topic": identity.topic,
            "path": path,
            "headers": {k: v[:MAX_HEADER_VALUE_CHARS] for k, v in headers.items() if k not in HIDDEN_HEADERS},
            "body": body,
            "received_by": self.received_by,
            "remote_addr": remote_addr,
        }

    async def write(self, platform: str, identity: Identity, channel: str, path: str,
                    headers: Mapping[str, str], body: bytes, received_at: float | None = None,
                    remote_addr: str | None = None) -> str:
        """Store one delivery and wait for the broker's acknowledgement; returns its delivery id.

        Raises:
            Unavailable: the broker (or, on first use, the registry) did not take it in time:
                answer 503 so the platform retries.
        """
        value = self.envelope(platform, identity, channel, path, headers, body,
                              self._clock() if received_at is None else received_at, remote_addr)
        try:
            encoded = self.codec.encode(self.topic, value)
        except TransientError as exc:
            raise Unavailable(f"the schema registry is unreachable: {exc}") from exc
        except SerializationError as exc:  # a bug, not the sender's fault: never a 2xx
            raise Unavailable(f"the delivery could not be enveloped: {type(exc).__name__}") from exc
        try:
            await self.producer.confirm_async(self.topic, encoded, identity.key,
                                              timeout=self.ack_timeout + ACK_GRACE_SECONDS)
        except TransientError as exc:
            raise Unavailable(f"the broker did not store the delivery: {exc}") from exc
        if self._produced is not None:
            self._produced.inc()
        return str(value["meta"]["event_id"])
