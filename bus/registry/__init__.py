"""A small Confluent-compatible schema registry stored in a compacted Kafka topic.

Modules: :mod:`~bus.registry.schema` (parse and normalise Avro), :mod:`~bus.registry.compatibility`
(levels and explained problems), :mod:`~bus.registry.errors` (Confluent error codes).
"""
