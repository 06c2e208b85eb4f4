"""Timestamps of the oldest unconsumed messages, read with a short-lived consumer.

Lag in seconds is the age of the message at a group's committed offset: the oldest message the
group still has to process. The only exact way to know it is to read that message, so this
module ``assign``s (never ``subscribe``s: it joins no group and commits nothing) a throwaway
consumer to the wanted offsets and takes the first record each partition returns. That record
may sit after the wanted offset when the offset holds a transaction marker or an aborted record;
it is then the oldest message the group will actually see.

The consumer reads with ``isolation.level=read_committed`` by default, like our consumers.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaError, TopicPartition

from bus.settings import ClientConfig

log = logging.getLogger(__name__)

Position = tuple[str, int, int]
"""(topic, partition, offset)."""

PROBE_GROUP_ID = "ecombus-lag-probe"
"""Required by librdkafka; never joined or committed to (assign only), so it never exists."""

DEFAULT_TIMEOUT_S = 10.0


class OldestMessageReader:
    """Reads the timestamp of the first message at or after each wanted position.

    Args:
        client_config: librdkafka settings to reach the cluster (``KafkaSettings.client_config()``).
        timeout: seconds to wait per round for every partition to answer.
        isolation_level: ``read_committed`` (default) or ``read_uncommitted``.
        consumer_factory: builds the consumer from a config dict (a fake in unit tests).
    """

    def __init__(
        self,
        client_config: ClientConfig,
        timeout: float = DEFAULT_TIMEOUT_S,
        isolation_level: str = "read_committed",
        consumer_factory: Callable[[dict[str, Any]], Any] = Consumer,
    ) -> None:
        self.config: dict[str, Any] = {
            **client_config,
            "group.id": PROBE_GROUP_ID,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "isolation.level": isolation_level,
            "fetch.wait.max.ms": 100,
            "fetch.message.max.bytes": 65536,
            "queued.max.messages.kbytes": 1024,
        }
        self.timeout = timeout
        self._consumer_factory = consumer_factory

    def read(self, positions: Iterable[Position]) -> dict[Position, int | None]:
        """Timestamps (ms since the epoch) of the first readable message at each position.

        Returns:
            For each position answered: the message's timestamp, or ``None`` when there is no
            readable message between the position and the end of the partition (only
            transaction markers or aborted records, or nothing at all). A position absent from
            the result could not be read within the timeout.
        """
        rounds = _rounds(positions)
        if not rounds:
            return {}
        found: dict[Position, int | None] = {}
        consumer = self._consumer_factory(self.config)
        try:
            for wanted in rounds:
                found.update(self._read_round(consumer, wanted))
        finally:
            consumer.close()
        return found

    def _read_round(self, consumer: Any, wanted: dict[tuple[str, int], int]) -> dict[Position, int | None]:
        consumer.assign([TopicPartition(t, p, o) for (t, p), o in wanted.items()])
        pending = dict(wanted)
        found: dict[Position, int | None] = {}
        deadline = time.monotonic() + self.timeout
        while pending and (remaining := deadline - time.monotonic()) > 0:
            for msg in consumer.consume(num_messages=max(len(pending), 16), timeout=min(remaining, 0.5)):
                tp = (msg.topic(), msg.partition())
                if tp not in pending:
                    continue
                error = msg.error()
                if error is not None and error.code() != KafkaError._PARTITION_EOF:
                    log.warning("reading %s[%s] for its timestamp: %s", tp[0], tp[1], error)
                    continue
                timestamp: int | None = None
                if error is None:
                    kind, value = msg.timestamp()
                    timestamp = value if kind != TIMESTAMP_NOT_AVAILABLE else None
                found[(tp[0], tp[1], pending.pop(tp))] = timestamp
                consumer.pause([TopicPartition(tp[0], tp[1])])
        if pending:
            log.warning("no answer within %.1fs for %s", self.timeout,
                        ", ".join(f"{t}[{p}]@{o}" for (t, p), o in pending.items()))
        consumer.unassign()
        return found


def _rounds(positions: Iterable[Position]) -> list[dict[tuple[str, int], int]]:
    """Split positions so that each round assigns a partition at most once."""
    offsets: dict[tuple[str, int], list[int]] = defaultdict(list)
    for topic, partition, offset in positions:
        if offset not in offsets[(topic, partition)]:
            offsets[(topic, partition)].append(offset)
    depth = max((len(v) for v in offsets.values()), default=0)
    return [{tp: v[i] for tp, v in offsets.items() if i < len(v)} for i in range(depth)]
