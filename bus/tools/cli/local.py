"""``ecombus local ...``: the local single-node Kafka (and, with it, the local registry)."""

from __future__ import annotations

import sys

import click

from bus.tools.cli.output import heading, progress
from bus.tools.local import LocalBroker, ensure_kafka_jars, processes
from bus.tools.local.broker import DEFAULT_PORT
from bus.tools.local.paths import state_dir

REGISTRY_PORT = 8081


def local_broker(port: int = DEFAULT_PORT, controller_port: int | None = None) -> LocalBroker:
    """The per-user local broker (state in ``<state dir>/kafka``)."""
    return LocalBroker(state_dir() / "kafka", port=port, controller_port=controller_port,
                       progress=progress)


@click.group("local")
def local_group() -> None:
    """Run a real Apache Kafka 4.x broker on this machine, from Maven jars (no Docker).

    The first 'up' downloads the broker (about 45 MB) from Maven Central with mvn into
    ~/.cache/ecombus; data lives in ~/.local/state/ecombus/kafka and survives down/up.
    """


def start_registry(bootstrap_servers: str, port: int = REGISTRY_PORT) -> str:
    """Start the local schema registry beside the broker (idempotent); returns its URL."""
    argv = [sys.executable, "-m", "bus.tools.cli", "registry", "serve", "--port", str(port),
            "--bootstrap-servers", bootstrap_servers]
    record = processes.start("registry", argv, ready_port=port)
    return f"http://127.0.0.1:{record.port or port}"


@local_group.command("fetch")
def fetch() -> None:
    """Download the broker's jars into the cache (done automatically by 'up')."""
    libs = ensure_kafka_jars(progress=progress)
    click.echo(f"Kafka jars cached in {libs}")


@local_group.command("up")
@click.option("--port", default=DEFAULT_PORT, show_default=True, help="Client port on 127.0.0.1.")
@click.option("--controller-port", type=int, default=None,
              help="KRaft controller port, fixed when the data dir is formatted "
                   "[default: --port + 1, or a free port if that is taken].")
@click.option("--fresh", is_flag=True, help="Delete the broker's data first (topics, offsets).")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait until ready.")
@click.option("--registry-port", default=REGISTRY_PORT, show_default=True, envvar="ECOMBUS_REGISTRY_PORT",
              help="Port of the schema registry started beside the broker [env ECOMBUS_REGISTRY_PORT].")
def up(port: int, controller_port: int | None, fresh: bool, timeout: float, registry_port: int) -> None:
    """Start the local broker and schema registry (idempotent) and print their addresses."""
    heading("local Kafka")
    if fresh:
        processes.stop("registry")  # its schemas go with the broker's data
    state = local_broker(port, controller_port).start(fresh=fresh, timeout=timeout)
    click.echo(f"Kafka {state.kafka_version} running: KAFKA_BOOTSTRAP_SERVERS={state.bootstrap_servers}")
    click.echo(f"  pid {state.pid}, data {state.data_dir}, log {state.log_file}")
    click.echo(f"SCHEMA_REGISTRY_URL={start_registry(state.bootstrap_servers, registry_port)}")


@local_group.command("down")
def down() -> None:
    """Stop the local registry and broker (SIGTERM, SIGKILL after 30 s). Data is kept."""
    stop_local()


def stop_local() -> None:
    if processes.stop("registry"):
        click.echo("local schema registry stopped")
    if local_broker().stop():
        click.echo("local Kafka stopped")
    else:
        click.echo("local Kafka was not running")


@local_group.command("status")
def status() -> None:
    """Say whether the local broker and registry run, and where. Exit code 1 without a broker."""
    state = local_broker().state()
    if state is None:
        click.echo("local Kafka: not running (start it with 'ecombus local up')")
    else:
        click.echo(f"local Kafka {state.kafka_version}: running at {state.bootstrap_servers} "
                   f"(pid {state.pid}, data {state.data_dir})")
    registry = processes.record("registry")
    click.echo(f"local schema registry: running at http://127.0.0.1:{registry.port} (pid {registry.pid})"
               if registry else "local schema registry: not running")
    if state is None:
        raise SystemExit(1)


COMMANDS = [local_group]  # ``ecombus down`` (everything) lives in bus/tools/cli/stack.py
