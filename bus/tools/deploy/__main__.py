"""``python -m bus.tools.deploy [--check]``: render the deployment files, or check them for drift.

Without options, (re)writes every generated file and names the ones that changed. With
``--check``, writes nothing and exits 1 when a generated file is missing, edited or stale, or
when an alert or dashboard query selects a metric the code does not expose.
"""

from __future__ import annotations

import sys

import click

from bus.tools.deploy.components import COMPONENTS
from bus.tools.deploy.render import deployed, drift, render, unknown_series, write


@click.command()
@click.option("--check", is_flag=True, help="Write nothing; exit 1 on drift or unknown metrics.")
def main(check: bool) -> None:
    """Render deploy/k8s, deploy/grafana from bus/tools/deploy and deploy/*.yaml."""
    chosen = deployed()
    skipped = sorted({c.name for c in COMPONENTS} - {c.name for c in chosen})
    if skipped:
        click.echo(f"not rendered yet (no runnable services/<name>/main.py): {', '.join(skipped)}", err=True)
    files = render(chosen)
    problems = [f"{expr!r} selects unknown metrics {sorted(names)}"
                for expr, names in unknown_series().items()]
    if check:
        problems += drift(files)
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
        if problems:
            click.echo("run `make deploy-render` (python -m bus.tools.deploy) and review the diff", err=True)
            sys.exit(1)
        click.echo(f"{len(files)} generated files up to date")
        return
    changed = write(files)
    click.echo("\n".join(f"wrote {p}" for p in changed) or f"{len(files)} generated files up to date")
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)


if __name__ == "__main__":
    main()
