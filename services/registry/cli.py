"""``ecombus registry serve``: the embedded Confluent-compatible schema registry.

Contributed to ``ecombus`` through the ``ecombus.commands`` entry point ``registry``.
"""

from __future__ import annotations

import click


def progress(line: str) -> None:
    """A progress line on stderr (stdout stays clean), as the tools print theirs."""
    click.echo(f"  {line}", err=True)


@click.group("registry")
def registry_group() -> None:
    """The embedded schema registry: Confluent's REST API for Avro, stored in Kafka."""


@registry_group.command("serve")
@click.option("--host", default=None, help="Interface to listen on [env ECOMBUS_REGISTRY_HOST; 127.0.0.1].")
@click.option("--port", type=int, default=None, help="HTTP port [env ECOMBUS_REGISTRY_PORT; 8081].")
@click.option("--topic", default=None,
              help="Compacted Kafka topic holding the schemas; replicas sharing it share ids "
                   "[env ECOMBUS_REGISTRY_TOPIC; _schemas].")
@click.option("--bootstrap-servers", default=None,
              help="Kafka to store schemas in [env KAFKA_BOOTSTRAP_SERVERS; 127.0.0.1:9092].")
@click.option("--log-level", default="info", show_default=True, envvar="ECOMBUS_LOG_LEVEL",
              type=click.Choice(["critical", "error", "warning", "info", "debug"], case_sensitive=False),
              help="Log level [env ECOMBUS_LOG_LEVEL].")
def serve(host: str | None, port: int | None, topic: str | None, bootstrap_servers: str | None,
          log_level: str) -> None:
    """Serve a Confluent-compatible schema registry (Avro only) until SIGTERM or Ctrl-C.

    \b
    Clients point SCHEMA_REGISTRY_URL at http://HOST:PORT. Schemas, versions, ids and
    compatibility levels live in a compacted one-partition Kafka topic, created if missing;
    the registry reads it to the end before it listens, and several replicas on the same
    topic agree on every id. /healthz, /readyz and /metrics (Prometheus) sit beside the API.
    The global compatibility level is BACKWARD until set with PUT /config.
    """
    import uvicorn

    from bus.observability.logging import configure_logging
    from bus.settings import KafkaSettings, load
    from services.registry import SERVICE
    from services.registry.app import create_app
    from services.registry.kafka_store import KafkaStore
    from services.registry.settings import RegistryServerSettings

    settings = load(RegistryServerSettings, host=host, port=port, topic=topic)
    kafka = load(KafkaSettings, bootstrap_servers=bootstrap_servers)
    configure_logging(SERVICE, log_level)
    store = KafkaStore(kafka.client_config(), settings.topic, timeout=settings.timeout_seconds)
    progress(f"reading schemas from topic '{settings.topic}' at {kafka.bootstrap_servers}")
    store.start()
    progress(f"schema registry on http://{settings.host}:{settings.port} ({store.state.next_id() - 1} ids)")
    try:
        uvicorn.run(create_app(store), host=settings.host, port=settings.port, log_level=log_level.lower())
    finally:
        store.close()

