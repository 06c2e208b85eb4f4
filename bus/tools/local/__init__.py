"""A real single-node Apache Kafka (KRaft) for laptops, tests and the demo, with no Docker.

``jars`` fetches the broker from Maven Central into a per-user cache; ``broker`` formats storage
and runs it with Java 17; ``paths`` says where the cache and the state live.
"""

from bus.tools.local.broker import BrokerState, LocalBroker
from bus.tools.local.jars import KAFKA_VERSION, ensure_kafka_jars

__all__ = ["KAFKA_VERSION", "BrokerState", "LocalBroker", "ensure_kafka_jars"]
