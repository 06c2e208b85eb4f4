"""Taking ownership of Kafka-backed state: fence the previous owner, then read the state back.

Order matters. :func:`fence` first calls ``init_transactions`` with the transactional.id the
runtime's exactly-once loop uses (``<group>.txn``): the broker aborts whatever transaction a
previous instance (SIGKILLed, or a zombie cut off the network) left open, and that instance can
never commit again. Only then does :func:`bus.runtime.table.read_to_end` read the changelog
(read_committed, up to each partition's end, or TransientError), so the state read back matches
the committed input offsets exactly and nothing can be committed behind our back afterwards.
The changelog topics themselves are created with :func:`bus.topics.ensure_topics`.
"""

from __future__ import annotations

from confluent_kafka import Producer

from bus.settings import ClientConfig


def transactional_id(group_id: str) -> str:
    """The transactional.id :class:`bus.runtime.ConsumerLoop` uses for ``group_id``."""
    return f"{group_id}.txn"


def fence(client: ClientConfig, group_id: str, timeout: float = 60.0) -> None:
    """Abort any transaction a previous instance left open and fence that instance out."""
    producer = Producer({**client, "transactional.id": transactional_id(group_id)})
    producer.init_transactions(timeout)
    producer.flush(0)
