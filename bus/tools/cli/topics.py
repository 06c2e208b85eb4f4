"""``ecombus topics ...``: topics as code (deploy/topics.yaml)."""

from __future__ import annotations

from pathlib import Path

import click
from confluent_kafka.admin import AdminClient

from bus import topics as topics_lib
from bus.settings import KafkaSettings, load


@click.group("topics")
def topics_group() -> None:
    """Create and inspect the topics declared in deploy/topics.yaml."""


_file_option = click.option(
    "--file", "path", type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=topics_lib.DEFAULT_TOPICS_FILE, show_default=True, help="The topics file.",
)


@topics_group.command("apply")
@_file_option
@click.option("--replication-factor", type=int, default=None,
              help="Replication factor for new topics (default: min(3, brokers)).")
@click.option("--bootstrap-servers", default=None, help="Overrides KAFKA_BOOTSTRAP_SERVERS.")
def apply(path: Path, replication_factor: int | None, bootstrap_servers: str | None) -> None:
    """Create missing topics (idempotent) and report drift between the file and the cluster.

    Exit code 0 when the cluster matches the file after the run, 1 when drift remains.
    """
    settings = load(KafkaSettings, bootstrap_servers=bootstrap_servers)
    specs = topics_lib.load_topics(path)
    report = topics_lib.apply(AdminClient(settings.client_config()), specs, replication_factor)
    for name in report.created:
        click.echo(f"created  {name}")
    for name in report.unchanged:
        click.echo(f"ok       {name}")
    for line in report.drift:
        click.secho(f"drift    {line}", fg="yellow")
    click.echo(f"{len(report.created)} created, {len(report.unchanged)} unchanged, "
               f"{len(report.drift)} drift on {settings.bootstrap_servers}")
    if report.drift:
        raise SystemExit(1)


@topics_group.command("list")
@_file_option
def list_topics(path: Path) -> None:
    """Print the declared topics: name, partitions, key and purpose."""
    for spec in topics_lib.load_topics(path):
        click.echo(f"{spec.name:28} {spec.partitions:3}  key={spec.key:16} {spec.doc}")


COMMANDS = [topics_group]
