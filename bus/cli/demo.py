"""``ecombus demo``: what ``make demo`` runs. Grows with every service that joins the bus."""

from __future__ import annotations

import click
from confluent_kafka.admin import AdminClient

from bus import topics as topics_lib
from bus.cli.local import local_broker, start_registry
from bus.cli.output import heading, progress
from bus.roundtrip import round_trip
from bus.settings import ClientConfig


@click.command("demo")
@click.option("--messages", default=10_000, show_default=True, help="Records in the round trip.")
def demo(messages: int) -> None:
    """Start the local bus, create every topic, prove a round trip, and leave it running."""
    heading("1/3 local Kafka broker (Apache Kafka from Maven Central, run with Java 17)")
    state = local_broker().start()
    config: ClientConfig = {"bootstrap.servers": state.bootstrap_servers}
    registry_url = start_registry(state.bootstrap_servers)
    progress(f"schema registry ready: SCHEMA_REGISTRY_URL={registry_url}")
    heading("2/3 topics from deploy/topics.yaml")
    report = topics_lib.apply(AdminClient(config), topics_lib.load_topics())
    progress(f"{len(report.created)} created, {len(report.unchanged)} already there, "
             f"{len(report.drift)} drift")
    heading(f"3/3 round trip of {messages} records (acks=all, consumer group)")
    result = round_trip(config, messages, progress=progress)
    if not result.ok:
        click.secho(f"round trip FAILED: {len(result.missing)} missing", fg="red")
        raise SystemExit(1)
    click.echo(f"""
The local bus is running.
  Kafka     KAFKA_BOOTSTRAP_SERVERS={state.bootstrap_servers} (log: {state.log_file})
  Registry  SCHEMA_REGISTRY_URL={registry_url}
  Topics    {len(report.created) + len(report.unchanged)} declared topics exist ('ecombus topics list')
  Proof     {result.produced} records produced with acks=all, {result.consumed} consumed, none lost

Try next:
  ecombus local status       where everything listens
  ecombus selftest           another round trip
  ecombus topics apply       idempotent; reports drift from deploy/topics.yaml
  make down                  stop it all (data is kept; 'ecombus local up --fresh' wipes it)
""")


COMMANDS = [demo]
