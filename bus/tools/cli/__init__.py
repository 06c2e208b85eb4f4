"""The ``ecombus`` command: everything a person does with the bus.

Each command family of the tools lives in its own module and registers itself on :data:`main`;
services and simulators contribute theirs (``routes``, ``registry``, ``demo``) as entry points,
loaded on demand (:mod:`bus.tools.cli.plugins`). A :class:`~bus.errors.BusError` becomes a
one-line ``error:`` message and exit code 2 instead of a traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from bus import __version__
from bus.errors import BusError
from bus.tools.cli import plugins


class _Group(click.Group):
    """The tools' own commands plus those contributed through entry points."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *plugins.command_entry_points()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or plugins.load_command(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BusError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ecombus")
def main() -> None:
    """ecombus: an event-streaming integration bus for e-commerce on Apache Kafka.

    \b
    Quick start (no Docker needed; Java 17 and Maven fetch and run the broker):
      ecombus demo          start the local bus and push a scenario through it
      ecombus up / ps       start every service and simulator / see what runs and is ready
      ecombus down          stop everything the local bus started

    Settings come from the environment: KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092),
    SCHEMA_REGISTRY_URL (default http://127.0.0.1:8081), KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*.
    """


def _register() -> None:
    from bus.tools.cli import dlq, lag, local, run, schemas, selftest, stack, tail, topics, trace

    for module in (local, stack, topics, schemas, tail, selftest, run, lag, dlq, trace):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
