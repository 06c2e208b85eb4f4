"""Services and simulators contribute to ``ecombus`` through entry points (bus/tools/cli/plugins.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
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


def declare(monkeypatch: pytest.MonkeyPatch, extra_group: str, name: str, value: str) -> None:
    """One more entry point in ``extra_group``, beside the installed ones."""
    real = plugins.entry_points

    def with_extra(group: str) -> list[EntryPoint]:
        found = list(real(group=group))
        return [*found, EntryPoint(name, value, group)] if group == extra_group else found

    monkeypatch.setattr(plugins, "entry_points", with_extra)


def test_a_command_whose_package_is_not_installed_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    declare(monkeypatch, plugins.COMMANDS_GROUP, "ghost", "no_such_package_here.cli:ghost")
    listed = CliRunner().invoke(main, ["--help"])
    assert listed.exit_code == 0 and "routes" in listed.output and "ghost" not in listed.output
    ran = CliRunner().invoke(main, ["ghost"])
    assert ran.exit_code == 2 and "No such command 'ghost'" in ran.output


@pytest.fixture
def fake_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A throwaway package declared as one more ``ecombus.services`` entry point."""
    (tmp_path / "zz_fake_sync.py").write_text("CALLS = []\n\ndef run():\n    CALLS.append('ran')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    declare(monkeypatch, plugins.SERVICES_GROUP, "zz-fake-sync", "zz_fake_sync:run")
    yield tmp_path
    sys.modules.pop("zz_fake_sync", None)


def test_run_help_lists_the_declared_services_but_not_simulators(fake_services: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--help"])
    assert result.exit_code == 0
    services_section = result.output.split("Services:")[1]
    assert "monitor" in services_section and "zz-fake-sync" in services_section
    assert "services.router.main:run" in services_section and "simulators" not in services_section
    assert "zz_fake_sync" not in sys.modules  # listed from the metadata, not imported


def test_run_imports_the_service_main_and_calls_run(fake_services: Path) -> None:
    result = CliRunner().invoke(main, ["run", "zz-fake-sync"])
    assert result.exit_code == 0, result.output
    assert sys.modules["zz_fake_sync"].CALLS == ["ran"]


def test_run_rejects_an_unknown_service_naming_the_choices(fake_services: Path) -> None:
    result = CliRunner().invoke(main, ["run", "simulators"])
    assert result.exit_code == 2
    assert "'simulators' is not a service; choose from:" in result.output and "monitor" in result.output


def test_every_service_main_is_the_same_three_lines() -> None:
    for main_py in sorted(SERVICES_DIR.glob("*/main.py")):
        package = main_py.parent.name
        code = [line for line in main_py.read_text(encoding="utf-8").splitlines()[1:] if line.strip()]
        assert code == ["from bus.assembly import entry_point",
                        f"from services.{package}.wiring import DEFINITION",
                        "run = entry_point(DEFINITION)"], main_py


def test_the_local_stack_runs_only_declared_services() -> None:
    from bus.tools.local.stack import STACK

    run = [spec.argv[spec.argv.index("run") + 1] for spec in STACK if "run" in spec.argv]
    assert len(run) >= 5 and set(run) <= set(plugins.available_services())
