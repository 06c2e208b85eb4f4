"""``ecombus selftest``: prove a cluster keeps every acknowledged record."""

from __future__ import annotations

import click

from bus.roundtrip import round_trip
from bus.settings import KafkaSettings, load
from bus.tools.cli.output import heading, progress


@click.command("selftest")
@click.option("--messages", default=10_000, show_default=True, help="How many records.")
@click.option("--bootstrap-servers", default=None, help="Overrides KAFKA_BOOTSTRAP_SERVERS.")
def selftest(messages: int, bootstrap_servers: str | None) -> None:
    """Round trip: produce N records with acks=all to a temporary topic, consume them in a
    consumer group, check none is missing or doubled, delete the topic. Exit 1 on any loss."""
    settings = load(KafkaSettings, bootstrap_servers=bootstrap_servers)
    heading(f"round trip of {messages} records through {settings.bootstrap_servers}")
    result = round_trip(settings.client_config(), messages, progress=progress)
    if result.ok:
        rate = result.produced / max(result.produce_seconds + result.consume_seconds, 1e-9)
        click.echo(f"round trip ok: {result.produced} produced, {result.consumed} consumed, "
                   f"0 missing ({rate:,.0f} records/s end to end)")
        return
    click.secho(f"round trip FAILED: {len(result.missing)} missing, {result.duplicates} "
                f"duplicates, delivery errors: {result.delivery_errors[:3]}", fg="red")
    raise SystemExit(1)


COMMANDS = [selftest]
