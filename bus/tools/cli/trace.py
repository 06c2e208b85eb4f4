"""``ecombus trace ID``: where an order is, and exactly where and why it stopped."""

from __future__ import annotations

from datetime import datetime

import click

from bus.ops.trace import payment_of, trace
from bus.runtime.service import default_codec
from bus.settings import KafkaSettings, load


@click.command("trace")
@click.argument("identifier")
@click.option("--since-hours", default=168.0, show_default=True, help="How far back to read bus.audit.v1.")
@click.option("--bootstrap-servers", default=None, help="Overrides KAFKA_BOOTSTRAP_SERVERS.")
def trace_command(identifier: str, since_hours: float, bootstrap_servers: str | None) -> None:
    """Print the timeline of an order id, correlation id or event id across every service.

    For an order id, a payment line comes first: its payment status from its events (placed,
    refunds, disputes, cancellations), e.g. ``payment: partially refunded (19.31 of 38.63 USD
    refunded)``.
    """
    client = load(KafkaSettings, bootstrap_servers=bootstrap_servers).client_config()
    codec = default_codec()
    steps = trace(client, codec, identifier, since_hours * 3600)
    if not steps:
        click.echo(f"no processing recorded for {identifier!r} in the last {since_hours:g} h")
        raise SystemExit(1)
    payment = payment_of(client, codec, identifier, since_hours * 3600)
    if payment is not None:
        click.secho(f"payment: {payment.describe()}", fg="yellow" if payment.status == "DISPUTED" else None)
    for step in steps:
        at = step.at.isoformat(timespec="milliseconds") if isinstance(step.at, datetime) else step.at
        line = (f"{at}  {step.service:20} {step.handler:22} {step.outcome:13} {step.where} "
                f"({step.duration_seconds * 1000:.1f} ms, {step.attempts} attempt(s))")
        click.secho(line, fg="red" if step.outcome == "DEAD_LETTERED" else None)
        if step.error:
            click.echo(f"    error: {step.error}")
    stopped = [s for s in steps if s.outcome == "DEAD_LETTERED"]
    if stopped:
        last = stopped[-1]
        click.secho(f"stopped at {last.service}/{last.handler}: {last.error}\n  the input is in "
                    f"{last.dlq_topic}; after fixing the cause: ecombus dlq replay {last.service}",
                    fg="red")


COMMANDS = [trace_command]
