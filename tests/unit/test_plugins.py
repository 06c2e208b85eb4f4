"""Services and simulators contribute to ``ecombus`` through entry points (bus/tools/cli/plugins.py)."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bus.tools.cli import main, plugins

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"


def test_every_service_package_with_a_main_is_declared_and_loads() -> None:
    packages = {p.name.replace("_", "-") for p in SERVICES_DIR.iterdir() if (p / "main.py").is_file()}
    assert packages and packages <= set(plugins.available_services())
    for name in plugins.available_services():
        assert callable(plugins.service_runner(name)), name


def test_the_contributed_commands_load_as_click_commands() -> None:
    names = set(plugins.command_entry_points())
    assert {"routes", "registry", "demo"} <= names
    for name in names:
        assert isinstance(plugins.load_command(name), click.Command), name


def test_a_command_whose_package_is_not_installed_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    real = plugins.entry_points

    def with_ghost(group: str) -> list[EntryPoint]:
        found = list(real(group=group))
        if group == plugins.COMMANDS_GROUP:
            found.append(EntryPoint("ghost", "no_such_package_here.cli:ghost", group))
        return found

    monkeypatch.setattr(plugins, "entry_points", with_ghost)
    listed = CliRunner().invoke(main, ["--help"])
    assert listed.exit_code == 0 and "routes" in listed.output and "ghost" not in listed.output
    ran = CliRunner().invoke(main, ["ghost"])
    assert ran.exit_code == 2 and "No such command 'ghost'" in ran.output
