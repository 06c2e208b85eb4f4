"""``ecombus run SERVICE``: run one service in the foreground.

A service is whatever declares itself in the ``ecombus.services`` entry-point group of
``pyproject.toml`` (:mod:`bus.tools.cli.plugins`): the name maps to its ``main.run``, which reads
the service's settings from the environment, so the command has no options of its own.
"""

from __future__ import annotations

import click

from bus.tools.cli.plugins import available_services, service_entry_points, service_runner


class _RunCommand(click.Command):
    """Lists the services when help is shown, so the list is always current."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Services"):
            rows = [(name, ep.value) for name, ep in sorted(service_entry_points().items())]
            formatter.write_dl(rows or [("(none)", "no ecombus.services entry points: run `make install`")])


@click.command("run", cls=_RunCommand)
@click.argument("service", metavar="SERVICE")
def run(service: str) -> None:
    """Run one ecombus SERVICE in the foreground until SIGTERM or Ctrl-C.

    Settings come from the environment (KAFKA_*, SCHEMA_REGISTRY_*, ECOMBUS_<SERVICE>_*);
    ECOMBUS_LOG_LEVEL sets every service's log level; the admin endpoints (/metrics, /healthz,
    /readyz) listen on the service's admin port, overridable with ECOMBUS_ADMIN_PORT.
    """
    names = available_services()
    if service not in names:
        raise click.BadParameter(f"{service!r} is not a service; choose from: {', '.join(names) or 'none'}",
                                 param_hint="SERVICE")
    service_runner(service)()


COMMANDS = [run]
