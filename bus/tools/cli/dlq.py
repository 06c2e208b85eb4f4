"""``ecombus dlq ...``: see and replay what a service dead-lettered."""

from __future__ import annotations

import getpass
import os
import sys
from datetime import UTC, datetime

import click

from bus.ops import dlq as dlq_ops
from bus.runtime.service import default_codec
from bus.settings import KafkaSettings, load


@click.group("dlq")
def dlq_group() -> None:
    """Dead letters: dlq.<service> topics holding the original bytes and the reason.

    A record is pending until replayed; the consumer group ecombus.dlq-replay.<service> marks
    how far replay got.
    """


@dlq_group.command("list")
@click.argument("service")
@click.option("--bootstrap-servers", default=None, help="Overrides KAFKA_BOOTSTRAP_SERVERS.")
def list_command(service: str, bootstrap_servers: str | None) -> None:
    """Count the pending dead letters of SERVICE, oldest first, grouped by reason and handler."""
    client = load(KafkaSettings, bootstrap_servers=bootstrap_servers).client_config()
    summary = dlq_ops.summarize(client, service)
    oldest = ("-" if summary.oldest_pending_ms is None else
              datetime.fromtimestamp(summary.oldest_pending_ms / 1000, tz=UTC).isoformat(timespec="seconds"))
    click.echo(f"{summary.topic}: {summary.pending} pending of {summary.total} in the topic; "
               f"oldest pending {oldest}")
    if summary.reasons:
        click.echo("by reason:")
        for reason, count in summary.reasons.most_common():
            click.echo(f"  {count:6d}  {reason}")
        click.echo("by handler:")
        for handler, count in summary.handlers.most_common():
            click.echo(f"  {count:6d}  {handler}")


@dlq_group.command("replay")
@click.argument("service")
@click.option("--where", "wheres", multiple=True, metavar="FIELD=VALUE|FIELD~REGEX",
              help="Only matching records (repeatable; all must match). FIELD: topic, exception, "
                   "message, handler, kind, route, step, key.")
@click.option("--to", "to", default=None, help="Replay onto this topic instead of the original one.")
@click.option("--dry-run", is_flag=True, help="Count what would be replayed; change nothing.")
@click.option("--as", "actor", default=None, metavar="NAME",
              help="Who is replaying (headers and audit records); default $USER.")
@click.option("--bootstrap-servers", default=None, help="Overrides KAFKA_BOOTSTRAP_SERVERS.")
def replay_command(service: str, wheres: tuple[str, ...], to: str | None, dry_run: bool,
                   actor: str | None, bootstrap_servers: str | None) -> None:
    """Put pending dead letters of SERVICE back, original bytes untouched, once the cause is fixed.

    Each goes back to the topic it came from with ecombus.replayed.from/.by and
    ecombus.replay.for=SERVICE (other services consuming that topic skip it; for the router,
    ecombus.replay.route runs only the route that failed), and one audit record per dead letter
    (outcome REPLAYED, actor NAME) goes to bus.audit.v1 through the schema registry.

    \b
    Examples:
      ecombus dlq replay inventory-sync
      ecombus dlq replay router --where 'exception~Timeout' --where step=enrich
      ecombus dlq replay crm-updater --to crm.retry.v1 --dry-run
    """
    filters = [dlq_ops.Filter.parse(w) for w in wheres]
    client = load(KafkaSettings, bootstrap_servers=bootstrap_servers).client_config()
    who = actor or os.environ.get("USER") or getpass.getuser()
    audit = None if dry_run else default_codec()
    with click.progressbar(length=1, label=f"replaying dlq.{service}", file=sys.stderr) as bar:

        def progress(done: int, todo: int) -> None:
            bar.length = max(todo, 1)
            bar.update(done - bar.pos)

        report = dlq_ops.replay(client, service, filters, to, on_record=progress, dry_run=dry_run,
                                actor=who, audit=audit)
    verb = "would replay" if dry_run else f"{who} replayed"
    click.echo(f"{verb} {report.replayed}, skipped {report.skipped} (still pending)")
    if report.audit_problem:
        click.echo(f"warning: {report.audit_problem}", err=True)


COMMANDS = [dlq_group]
