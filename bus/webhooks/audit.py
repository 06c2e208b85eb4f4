"""One ProcessingRecord per webhook that reached the bus, so ``ecombus trace`` shows where an order
entered (``order-capture  webhook:shopify  OK  http:/webhooks/shopify``) before any consumer saw it.

Records are keyed and correlated like the consumers' (:mod:`bus.runtime.audit`); their own event
id derives from the webhook's event id and outcome, so a redelivery answered ``duplicate`` is a
record of its own. Auditing never fails a webhook: a record that cannot be produced is logged.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from bus.runtime.audit import AUDIT_TOPIC, processing_record
from bus.runtime.codec import Codec
from bus.runtime.handlers import Context
from bus.runtime.producer import BusProducer
from bus.webhooks.publisher import Publication, Published

log = logging.getLogger("ecombus.webhooks")

OUTCOMES = {"published": "ok", "duplicate": "duplicate", "ignored": "skipped"}


class WebhookAudit:
    """Writes the audit records of one service's webhooks (not waited for).

    Args:
        service: the service name.
        producer: where records go.
        codec: encodes ProcessingRecord (Avro).
        topic: the audit topic.
        clock: wall clock (seconds).
    """

    def __init__(self, service: str, producer: BusProducer, codec: Codec, topic: str = AUDIT_TOPIC,
                 clock: Callable[[], float] = time.time) -> None:
        self.service, self.topic = service, topic
        self._producer, self._codec, self._clock = producer, codec, clock

    def record(self, path: str, platform: str, publication: Publication, published: Published,
               seconds: float) -> None:
        """Queue the record of one answered webhook that carried events."""
        if not publication.records:
            return
        first = publication.records[0]
        meta = getattr(first.value, "meta", None)
        where = f"http:{path}"
        ctx = Context(topic=where, partition=-1, offset=-1, key=None, headers=[], timestamp_ms=None,
                      event_id=first.event_id, correlation_id=getattr(meta, "correlation_id", None),
                      order_id=getattr(first.value, "order_id", None))
        outcome = OUTCOMES.get(published.outcome, "ok")
        value = processing_record(self.service, f"webhook:{platform}", where, -1, -1, ctx, outcome, seconds,
                                  self._clock())
        value["meta"]["event_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                   f"ecombus:{self.service}:{first.event_id}:{outcome}"))
        try:
            self._producer.produce(self.topic, self._codec.encode(self.topic, value),
                                   key=value["meta"]["correlation_id"].encode())
        except Exception as exc:  # auditing must never fail the webhook
            log.warning("audit record of %s not written: %s", first.event_id, exc)
