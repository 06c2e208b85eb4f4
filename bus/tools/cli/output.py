"""Small output conventions shared by the commands: progress lines and headings on stderr."""

from __future__ import annotations

import click


def progress(line: str) -> None:
    """A progress line, on stderr so stdout stays clean for data."""
    click.echo(f"  {line}", err=True)


def heading(text: str) -> None:
    click.secho(f"==> {text}", bold=True, err=True)
