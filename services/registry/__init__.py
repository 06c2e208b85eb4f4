"""A small Confluent-compatible schema registry for Avro, stored in a compacted Kafka topic.

Modules, from the wire inwards:

- :mod:`~services.registry.app`, :mod:`~services.registry.routes`: the HTTP API (FastAPI), health, metrics.
- :mod:`~services.registry.service`: Confluent's semantics (versions, deletes, levels, error codes).
- :mod:`~bus.contracts.compatibility`: levels and explained problems; :mod:`~bus.contracts.avro_schema`:
  parsing and canonical text.
- :mod:`~services.registry.store`, :mod:`~services.registry.kafka_store`: the log (in memory or Kafka);
  :mod:`~services.registry.records` documents its records and the conflict rule that
  :mod:`~services.registry.state` applies.
- :mod:`~services.registry.settings`, :mod:`~services.registry.errors`, :mod:`~services.registry.metrics`,
  :mod:`~bus.tools.local.registry` (run a registry process in tests).
"""

SERVICE = "registry"
"""The service's name: consumer group ``ecombus.registry``, logs, metrics, ``dlq.registry``."""
