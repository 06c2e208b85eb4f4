"""A small Confluent-compatible schema registry for Avro, stored in a compacted Kafka topic.

Modules, from the wire inwards:

- :mod:`~bus.registry.app`, :mod:`~bus.registry.routes`: the HTTP API (FastAPI), health, metrics.
- :mod:`~bus.registry.service`: Confluent's semantics (versions, deletes, levels, error codes).
- :mod:`~bus.registry.compatibility`: levels and explained problems; :mod:`~bus.registry.schema`:
  parsing and canonical text.
- :mod:`~bus.registry.store`, :mod:`~bus.registry.kafka_store`: the log (in memory or Kafka);
  :mod:`~bus.registry.records` documents its records and the conflict rule that
  :mod:`~bus.registry.state` applies.
- :mod:`~bus.registry.settings`, :mod:`~bus.registry.errors`, :mod:`~bus.registry.metrics`,
  :mod:`~bus.registry.testing` (run a registry process in tests).
"""
