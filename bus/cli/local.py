"""``ecombus local ...``: the local single-node Kafka (and, with it, the local registry)."""

from __future__ import annotations

import click

from bus.cli.output import heading, progress
from bus.local import LocalBroker, ensure_kafka_jars
from bus.local.broker import DEFAULT_PORT
from bus.local.paths import state_dir


def local_broker(port: int = DEFAULT_PORT) -> LocalBroker:
    """The per-user local broker (state in ``<state dir>/kafka``)."""
    return LocalBroker(state_dir() / "kafka", port=port, progress=progress)


@click.group("local")
def local_group() -> None:
    """Run a real Apache Kafka 4.x broker on this machine, from Maven jars (no Docker).

    The first 'up' downloads the broker (about 45 MB) from Maven Central with mvn into
    ~/.cache/ecombus; data lives in ~/.local/state/ecombus/kafka and survives down/up.
    """


@local_group.command("fetch")
def fetch() -> None:
    """Download the broker's jars into the cache (done automatically by 'up')."""
    libs = ensure_kafka_jars(progress=progress)
    click.echo(f"Kafka jars cached in {libs}")


@local_group.command("up")
@click.option("--port", default=DEFAULT_PORT, show_default=True, help="Client port on 127.0.0.1.")
@click.option("--fresh", is_flag=True, help="Delete the broker's data first (topics, offsets).")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait until ready.")
def up(port: int, fresh: bool, timeout: float) -> None:
    """Start the local broker (idempotent) and print its bootstrap address."""
    heading("local Kafka")
    state = local_broker(port).start(fresh=fresh, timeout=timeout)
    click.echo(f"Kafka {state.kafka_version} running: KAFKA_BOOTSTRAP_SERVERS={state.bootstrap_servers}")
    click.echo(f"  pid {state.pid}, data {state.data_dir}, log {state.log_file}")


@local_group.command("down")
def down() -> None:
    """Stop the local broker (SIGTERM, SIGKILL after 30 s). Data is kept."""
    stop_local()


def stop_local() -> None:
    if local_broker().stop():
        click.echo("local Kafka stopped")
    else:
        click.echo("local Kafka was not running")


@local_group.command("status")
def status() -> None:
    """Say whether the local broker runs, and where. Exit code 1 when it does not."""
    state = local_broker().state()
    if state is None:
        click.echo("local Kafka: not running (start it with 'ecombus local up')")
        raise SystemExit(1)
    click.echo(f"local Kafka {state.kafka_version}: running at {state.bootstrap_servers} "
               f"(pid {state.pid}, data {state.data_dir})")


@click.command("down")
def down_all() -> None:
    """Stop everything the local bus started (services, registry, broker)."""
    stop_local()


COMMANDS = [local_group, down_all]
