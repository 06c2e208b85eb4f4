"""Which events a service already handled, shared by its replicas and surviving restarts.

Handlers with external side effects (an API call, an e-mail) must not act twice on a redelivered
event. :class:`ProcessedEvents` remembers handled ``event_id``s in a compacted Kafka topic
(``bus.processed.<service>.v1``, key = event_id, value = handled-at millis): on start every
replica reads the whole topic, then keeps tailing it, so an event marked by one replica is known
to all within moments, and a restarted replica forgets nothing. Entries older than ``ttl`` are
forgotten locally and expire from the topic by retention.

The guarantee is at-least-once with dedupe: the consumer loop marks an event once the handler's
outputs were acknowledged (committed, on an exactly-once loop), never before, so that a rewind or
a crash never skips an event whose outputs were lost; a crash between the side effect and the
mark can therefore repeat one effect (a handler that must not repeat it keeps its own mark right
after the effect, as shipping-tracker's fulfillments do); two replicas racing on the same event
in the same instant (only possible across a rebalance) can too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from confluent_kafka import KafkaError, Message

from bus.runtime.producer import BusProducer
from bus.runtime.table import CompactedTable, into_dict
from bus.settings import ClientConfig
from bus.topics import TopicSpec

DeliveryCallback = Callable[[KafkaError | None, Message], None]


def processed_topic(service: str) -> str:
    return f"bus.processed.{service}.v1"


class ProcessedEvents:
    """A replicated set of handled event ids.

    Args:
        client_config: Kafka client settings.
        service: owner; names the topic.
        producer: used to write marks.
        ttl: seconds an id is remembered (also the topic's retention).
        clock: injectable wall clock (seconds).
    """

    def __init__(self, client_config: ClientConfig, service: str, producer: BusProducer,
                 ttl: float = 7 * 24 * 3600, clock: Callable[[], float] = time.time) -> None:
        self.topic = processed_topic(service)
        self._ttl = ttl
        self._clock = clock
        self._ids: dict[str, float] = {}
        self._claimed: set[str] = set()  # handled, outputs not acknowledged yet (this process only)
        self._lock = threading.Lock()
        spec = TopicSpec(name=self.topic, partitions=3,
                         config={"cleanup.policy": "compact,delete", "retention.ms": str(int(ttl * 1000))})
        apply = into_dict(self._ids, self._lock, lambda millis: int(millis) / 1000.0)
        self._table = CompactedTable(client_config, self.topic, apply, spec=spec, producer=producer)

    def start(self, timeout: float = 60.0) -> None:
        """Create the topic if needed, load every id in it, then keep tailing it.

        Raises:
            TransientError: the topic was not read to its end within ``timeout`` seconds (a
                partial set would let repeats through, so the caller must not go ready).
        """
        self._table.load(timeout)

    def seen(self, event_id: str) -> bool:
        """True if the event was handled within the ttl, by this replica or another, or is
        claimed by this process (handled, its outputs not acknowledged yet)."""
        with self._lock:
            if event_id in self._claimed:
                return True
            handled_at = self._ids.get(event_id)
        return handled_at is not None and self._clock() - handled_at < self._ttl

    def claim(self, event_id: str) -> None:
        """Count the event as seen in this process until :meth:`mark` or :meth:`release_claims`
        (a second copy in the same batch is a duplicate; a copy after a rewind is not)."""
        with self._lock:
            self._claimed.add(event_id)

    def release_claims(self) -> None:
        """Forget every claim not marked yet: their outputs were lost (a rewind, an aborted
        transaction, partitions revoked), so their events must be handled again."""
        with self._lock:
            self._claimed.clear()

    def mark(self, event_id: str, on_delivery: DeliveryCallback | None = None) -> None:
        """Record the event as handled (locally at once, for everyone once produced)."""
        now = self._clock()
        with self._lock:
            self._ids[event_id] = now
            self._claimed.discard(event_id)
        self._table.put(event_id.encode(), str(int(now * 1000)).encode(), on_delivery=on_delivery)

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)

    def close(self) -> None:
        self._table.close()
