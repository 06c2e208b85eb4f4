"""A real Apache Kafka (KRaft) for laptops, tests and the demo, with no Docker.

``jars`` fetches the broker from Maven Central into a per-user cache; ``broker`` formats storage
and runs a single node with Java 17; ``cluster`` runs several such nodes as one replicated
cluster (``ecombus local up --brokers 3``); ``paths`` says where the cache and the state live.
"""

from bus.tools.local.broker import BrokerState, LocalBroker
from bus.tools.local.cluster import ClusterState, LocalCluster
from bus.tools.local.jars import KAFKA_VERSION, ensure_kafka_jars

__all__ = ["KAFKA_VERSION", "BrokerState", "ClusterState", "LocalBroker", "LocalCluster",
           "ensure_kafka_jars"]
