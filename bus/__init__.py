"""ecombus shared library: the mechanisms every service stands on, and the tools around them.

Mechanisms (never import ``bus.tools``, ``services`` or ``simulators``; docs/architecture.md):

* ``ops``: what operators do to a running bus (read topics to their end, dead letters listed and
  replayed, an order traced): used by the ``ecombus`` commands and the console service.
* ``assembly``: one way to put a service together and run it (settings, logs, parts, drain).
* ``webhooks``: the HTTP edge (size, signature, media type, bounded JSON) and its server.
* ``http``: the outbound HTTP client with retries and metrics.
* ``runtime``: consumer loop, producer, retries, dead letters, dedupe, audit, state restore.
* ``observability``: Prometheus metrics, health, the admin server, JSON logs with masking, lag.
* ``serde``: Avro in Confluent framing, the registry client, compiled readers and writers.
* ``contracts``: models generated from ``schemas/``, the catalog, compatibility rules.
* ``topics`` (topics as code), ``roundtrip`` (a cluster proven end to end),
  ``settings`` (12-factor configuration), ``errors`` (the one error hierarchy).

Tools (the outer layer): ``bus.tools.cli`` (the ``ecombus`` command), ``bus.tools.local``
(a real Kafka broker from Maven jars, the local stack), ``bus.tools.deploy`` (manifests).
"""

__version__ = "0.1.0"
