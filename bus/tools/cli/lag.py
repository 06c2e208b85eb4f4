"""``ecombus lag``: consumer-group lag in messages and seconds, as the monitor measures it."""

from __future__ import annotations

import json
from dataclasses import asdict

import click
from confluent_kafka.admin import AdminClient

from bus.observability.lag import DEFAULT_GROUP_PREFIX, LagReport, measure_lag
from bus.observability.oldest_message import OldestMessageReader
from bus.settings import KafkaSettings, load

_COLUMNS = ("GROUP", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "LAG SECONDS")


@click.command("lag")
@click.option("--group", "groups", multiple=True, help="A group to include, whatever its name (repeatable).")
@click.option("--prefix", default=DEFAULT_GROUP_PREFIX, show_default=True,
              help="Include every group whose id starts with this; '' for only the --group ones.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds per request.")
@click.option("--bootstrap-servers", default=None, help="Overrides KAFKA_BOOTSTRAP_SERVERS.")
def lag(groups: tuple[str, ...], prefix: str, as_json: bool, timeout: float,
        bootstrap_servers: str | None) -> None:
    """Show the lag of consumer groups per topic and partition.

    \b
    LAG          end offset - committed offset (from the oldest retained message when the group
                 has no commit); 1 on a caught-up transactional partition (the commit marker).
    LAG SECONDS  age of the oldest message the group has not consumed; 0 when caught up.
    A group with members but no commits, or with neither, is listed too.
    """
    settings = load(KafkaSettings, bootstrap_servers=bootstrap_servers)
    config = settings.client_config()
    report = measure_lag(AdminClient(dict(config)), OldestMessageReader(config, timeout=timeout),
                         prefix=prefix or None, groups=groups, timeout=timeout)
    if as_json:
        click.echo(json.dumps(_as_dict(report), indent=2))
    else:
        _print_table(report)
    for group, reason in report.failed.items():
        click.secho(f"could not read group {group}: {reason}", fg="yellow", err=True)


def _as_dict(report: LagReport) -> dict[str, object]:
    return {
        "groups": [{"group": g.group, "state": g.state, "members": g.members, "lag": g.lag,
                    "partitions": [asdict(p) for p in g.partitions]} for g in report.groups],
        "failed": report.failed,
    }


def _print_table(report: LagReport) -> None:
    rows: list[tuple[str, ...]] = []
    for g in report.groups:
        if not g.partitions:
            rows.append((g.group, "-", "-", "-", "-", "0", "0"))  # no members, no commits: still listed
        for p in g.partitions:
            seconds = "?" if p.lag_seconds is None else f"{p.lag_seconds:.1f}"
            committed = "-" if p.committed is None else str(p.committed)
            rows.append((g.group, p.topic, str(p.partition), committed, str(p.high), str(p.lag), seconds))
    if not rows:
        click.echo("no consumer groups matched", err=True)
        return
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(_COLUMNS)]
    right = {2, 3, 4, 5, 6}
    for line in (_COLUMNS, *rows):
        cells = [value.rjust(width) if i in right else value.ljust(width)
                 for i, (value, width) in enumerate(zip(line, widths, strict=True))]
        click.echo("  ".join(cells).rstrip())


COMMANDS = [lag]
