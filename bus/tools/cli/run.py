"""``ecombus run SERVICE``: run one service in the foreground.

A service is a package under ``services/`` whose ``main.py`` defines ``run()`` at top level
(the simulators excepted: they are started by the demo, not deployed). ``run()`` reads its own
settings from the environment, so the command has no options of its own.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import click

import services

EXCLUDED = frozenset({"simulators"})


def _defines_run(main_py: Path) -> bool:
    """Whether ``main_py`` defines a top-level ``run`` function, read without importing it."""
    try:
        tree = ast.parse(main_py.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return False
    return any(isinstance(node, ast.FunctionDef) and node.name == "run" for node in tree.body)


def available_services() -> list[str]:
    """Service names (``order-capture``, ...) with a runnable ``services/<name>/main.py``."""
    found = []
    for root in services.__path__:
        for package in sorted(Path(root).iterdir()):
            if package.name in EXCLUDED or not (package / "__init__.py").is_file():
                continue
            if _defines_run(package / "main.py"):
                found.append(package.name.replace("_", "-"))
    return sorted(found)


class _RunCommand(click.Command):
    """Lists the services when help is shown, so the list is always current."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Services"):
            rows = [(name, f"services.{name.replace('-', '_')}.main") for name in available_services()]
            formatter.write_dl(rows or [("(none)", "no services/<name>/main.py with run()")])


@click.command("run", cls=_RunCommand)
@click.argument("service", metavar="SERVICE")
def run(service: str) -> None:
    """Run one ecombus SERVICE in the foreground until SIGTERM or Ctrl-C.

    Settings come from the environment (KAFKA_*, SCHEMA_REGISTRY_*, ECOMBUS_<SERVICE>_*);
    the admin endpoints (/metrics, /healthz, /readyz) listen on the service's admin port,
    overridable with ECOMBUS_ADMIN_PORT.
    """
    names = available_services()
    if service not in names:
        raise click.BadParameter(f"{service!r} is not a service; choose from: {', '.join(names) or 'none'}",
                                 param_hint="SERVICE")
    module = importlib.import_module(f"services.{service.replace('-', '_')}.main")
    module.run()


COMMANDS = [run]
