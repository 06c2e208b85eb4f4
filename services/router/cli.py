"""``ecombus routes check FILE`` and ``ecombus routes test FILE``: the router's routes, offline.

``check`` validates a routes file: its structure and every step and endpoint (pydantic), the
expressions (compiled), and every field path against the Avro schema of the source topic; each
problem names the route, the step and the field. ``test`` runs the route tests declared beside
it (``<name>.tests.yaml``) without Kafka, files or HTTP, and reports choice branches no test
exercised. Both exit 1 when something is wrong (``test --strict``: also on unexercised branches).
Contributed to ``ecombus`` through the ``ecombus.commands`` entry point ``routes``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bus.errors import ConfigError


@click.group("routes")
def routes() -> None:
    """Check and test the router's routes files."""


def _load(file: Path):
    import os

    from services.router.build import BuildContext
    from services.router.routes import load_routes

    return load_routes(file, BuildContext(environ=dict(os.environ)))


@routes.command("check")
@click.argument("file", type=click.Path(path_type=Path))
def check(file: Path) -> None:
    """Validate FILE: structure, steps, endpoints, expressions, fields against the Avro contracts."""
    from services.router.checks import check_fields

    try:
        loaded = _load(file)
    except ConfigError as exc:
        click.secho(f"invalid: {exc}", fg="red", err=True)
        sys.exit(1)
    problems = check_fields(loaded)
    for problem in problems:
        click.secho(f"invalid: {file}: {problem}", fg="red", err=True)
    if problems:
        sys.exit(1)
    names = ", ".join(r.name for r in loaded.routes)
    click.echo(f"{file}: {len(loaded.routes)} route(s) valid: {names}")


@routes.command("test")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--tests", "tests_file", type=click.Path(path_type=Path), default=None,
              help="The tests file (default: <FILE stem>.tests.yaml beside FILE).")
@click.option("--strict", is_flag=True, help="Also fail when a choice branch is not exercised.")
def test(file: Path, tests_file: Path | None, strict: bool) -> None:
    """Run the route tests of FILE and report branches no test exercised."""
    import os

    from services.router.route_tests import run_tests

    try:
        report = run_tests(file, tests_file, environ=dict(os.environ))
    except ConfigError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)
    for name in report.passed:
        click.echo(f"PASS  {name}")
    for name, why in report.failed:
        click.secho(f"FAIL  {name}: {why}", fg="red")
    for branch in report.unexercised:
        click.secho(f"branch not exercised by any test: {branch}", fg="yellow")
    click.echo(f"{len(report.passed)} passed, {len(report.failed)} failed")
    if report.failed or (strict and report.unexercised):
        sys.exit(1)

