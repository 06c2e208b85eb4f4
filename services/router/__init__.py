"""router: the ESB router. Declarative routes (YAML) move events between Kafka topics, HTTP APIs
and files, with filters, content-based routing, mapping, enrichment, splitting, aggregation and
deduplication in between; ``ecombus run router``; HTTP in on :8084, admin endpoints on :9105.

Service modules: ``main`` (entry point), ``wiring`` (objects from settings), ``handlers`` (the
runtime handler per source topic), ``settings`` (``ECOMBUS_ROUTER_*``). The router's own:
``routes`` (the routes file), ``components`` (entries → steps/endpoints), ``expressions`` (the
safe expression language), ``steps/`` and ``endpoints/`` (one module per kind, one registry
each), ``formats/`` (CSV, XML, cXML, Avro ⇄ JSON), ``pipeline`` (running a route), ``spool``
(durable batches), ``ingest`` (files and HTTP requests), ``http_server``, ``codec``,
``checks`` (field paths against schemas, projection), ``metrics``, ``route_tests`` (the
``routes test`` runner), ``money``.
"""

SERVICE = "router"
"""The service's name: consumer group ``ecombus.router``, logs, metrics, ``dlq.router``."""
