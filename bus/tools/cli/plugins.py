"""What services and simulators contribute to ``ecombus``, found without ``bus`` importing them.

The layering rule (docs/architecture.md) forbids ``bus`` to import ``services`` or ``simulators``,
yet ``ecombus run SERVICE``, the manifest generator and ``ecombus routes ...`` must know them. They
declare themselves as entry points in ``pyproject.toml``, read from the installed distribution's
metadata (``pip install -e .`` writes them; ``make install`` re-runs when pyproject.toml changes)::

    [project.entry-points."ecombus.services"]      # ecombus run NAME  ->  calls the function
    crm-updater = "services.crm_updater.main:run"

    [project.entry-points."ecombus.commands"]      # ecombus NAME ...  ->  a click command
    routes = "services.router.cli:routes"

Nothing is imported to list the names. A command is imported only when ``ecombus`` needs it (its
``--help`` line, or running it); one whose package is not installed here (the image ships without
the simulators) is left out instead of breaking the whole command.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points

import click

SERVICES_GROUP = "ecombus.services"
COMMANDS_GROUP = "ecombus.commands"

log = logging.getLogger(__name__)


def service_entry_points() -> dict[str, EntryPoint]:
    """Every runnable service by name (``order-capture``, ...), from the package metadata."""
    return {ep.name: ep for ep in entry_points(group=SERVICES_GROUP)}


def available_services() -> list[str]:
    """The names ``ecombus run`` accepts, sorted."""
    return sorted(service_entry_points())


def service_runner(name: str) -> Callable[[], None]:
    """The ``run()`` of service ``name`` (imports that service, and only it)."""
    runner = service_entry_points()[name].load()
    if not callable(runner):
        raise TypeError(f"entry point {name!r} of {SERVICES_GROUP} is not callable")
    return runner


def command_entry_points() -> dict[str, EntryPoint]:
    """Commands contributed by services and simulators, by name."""
    return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}


def load_command(name: str) -> click.Command | None:
    """The contributed command ``name``, or None when its package is not installed here."""
    found = command_entry_points().get(name)
    if found is None:
        return None
    try:
        command = found.load()
    except ModuleNotFoundError as exc:
        log.debug("ecombus %s left out: %s is not installed", name, exc.name)
        return None
    if not isinstance(command, click.Command):
        raise TypeError(f"entry point {name!r} of {COMMANDS_GROUP} is not a click command")
    return command
