"""``ecombus local ...``: the local Kafka (one node, or a cluster with ``--brokers 3``) and the
local registry beside it. ``down`` and ``status`` cover both kinds of broker."""

from __future__ import annotations

import sys

import click

from bus.tools.cli.output import heading, progress
from bus.tools.local import LocalBroker, ensure_kafka_jars, processes
from bus.tools.local.broker import DEFAULT_PORT
from bus.tools.local.cluster import LocalCluster
from bus.tools.local.paths import state_dir

REGISTRY_PORT = 8081


def local_broker(port: int = DEFAULT_PORT, controller_port: int | None = None) -> LocalBroker:
    """The per-user local broker (state in ``<state dir>/kafka``)."""
    return LocalBroker(state_dir() / "kafka", port=port, controller_port=controller_port,
                       progress=progress)


def local_cluster(brokers: int = 3, port: int = DEFAULT_PORT) -> LocalCluster:
    """The per-user local cluster (state in ``<state dir>/kafka-cluster``, apart from the single
    node's, so switching between the two never mixes their data)."""
    return LocalCluster(state_dir() / "kafka-cluster", brokers=brokers, port=port, progress=progress)


@click.group("local")
def local_group() -> None:
    """Run a real Apache Kafka 4.x broker (or, with --brokers 3, a cluster) from Maven jars (no Docker).

    The first 'up' downloads the broker (about 45 MB) from Maven Central with mvn into
    ~/.cache/ecombus; data lives in ~/.local/state/ecombus/kafka (a cluster's in .../kafka-cluster)
    and survives down/up.
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
@click.option("--port", default=DEFAULT_PORT, show_default=True,
              help="Client port on 127.0.0.1 (with --brokers: node 1's; the others take the next "
                   "ports, or free ones).")
@click.option("--controller-port", type=int, default=None,
              help="KRaft controller port, fixed when the data dir is formatted "
                   "[default: --port + 1, or a free port if that is taken]. Single node only.")
@click.option("--brokers", type=click.IntRange(min=1), default=1, show_default=True,
              help="1: one broker+controller node. 3 or more: a cluster of combined nodes with a "
                   "static controller quorum, replication factor 3 and min.insync.replicas=2.")
@click.option("--fresh", is_flag=True, help="Delete the broker's data first (topics, offsets).")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait until ready.")
@click.option("--registry-port", default=REGISTRY_PORT, show_default=True, envvar="ECOMBUS_REGISTRY_PORT",
              help="Port of the schema registry started beside the broker [env ECOMBUS_REGISTRY_PORT].")
def up(port: int, controller_port: int | None, brokers: int, fresh: bool, timeout: float,
       registry_port: int) -> None:
    """Start the local broker(s) and schema registry (idempotent) and print their addresses."""
    if brokers == 1:
        heading("local Kafka")
        if fresh:
            processes.stop("registry")  # its schemas go with the broker's data
        state = local_broker(port, controller_port).start(fresh=fresh, timeout=timeout)
        click.echo(f"Kafka {state.kafka_version} running: KAFKA_BOOTSTRAP_SERVERS={state.bootstrap_servers}")
        click.echo(f"  pid {state.pid}, data {state.data_dir}, log {state.log_file}")
        click.echo(f"SCHEMA_REGISTRY_URL={start_registry(state.bootstrap_servers, registry_port)}")
        return
    if controller_port is not None:
        raise click.UsageError("--controller-port is for a single node; a cluster picks a free "
                               "controller port per node (see ports.json in its state dir)")
    heading(f"local Kafka cluster of {brokers}")
    if fresh:
        processes.stop("registry")
    cluster = local_cluster(brokers, port)
    cluster_state = cluster.start(fresh=fresh, timeout=timeout)
    click.echo(f"Kafka {cluster_state.kafka_version} cluster of {brokers} running: "
               f"KAFKA_BOOTSTRAP_SERVERS={cluster_state.bootstrap_servers}")
    for node in cluster_state.nodes:
        click.echo(f"  127.0.0.1:{node.port} pid {node.pid}, data {node.data_dir}, log {node.log_file}")
    click.echo(f"SCHEMA_REGISTRY_URL={start_registry(cluster_state.bootstrap_servers, registry_port)}")


@local_group.command("down")
def down() -> None:
    """Stop the local registry and broker or cluster (SIGTERM, SIGKILL after 30 s). Data is kept."""
    stop_local()


def stop_local() -> None:
    if processes.stop("registry"):
        click.echo("local schema registry stopped")
    stopped = False
    if local_broker().stop():
        click.echo("local Kafka stopped")
        stopped = True
    if local_cluster().stop():
        click.echo("local Kafka cluster stopped")
        stopped = True
    if not stopped:
        click.echo("local Kafka was not running")


@local_group.command("status")
def status() -> None:
    """Say whether the local broker or cluster and the registry run, and where.

    Exit code 1 when no broker runs, or when a node of the cluster is down.
    """
    state = local_broker().state()
    cluster = local_cluster()
    cluster_state = cluster.state()
    if state is not None:
        click.echo(f"local Kafka {state.kafka_version}: running at {state.bootstrap_servers} "
                   f"(pid {state.pid}, data {state.data_dir})")
    if cluster_state is not None:
        click.echo(f"local Kafka cluster: {len(cluster_state.nodes)} of {cluster_state.size} nodes "
                   f"running at {cluster_state.bootstrap_servers}")
        running = {node.port: node for node in cluster_state.nodes}
        for node in cluster.nodes():
            live = running.get(node.port)
            click.echo(f"  node {node.node_id} 127.0.0.1:{node.port}: "
                       + (f"running (pid {live.pid}, data {live.data_dir})" if live else
                          "not running (restart it with 'ecombus local up --brokers "
                          f"{cluster_state.size}')"))
    if state is None and cluster_state is None:
        click.echo("local Kafka: not running (start it with 'ecombus local up')")
    registry = processes.record("registry")
    click.echo(f"local schema registry: running at http://127.0.0.1:{registry.port} (pid {registry.pid})"
               if registry else "local schema registry: not running")
    if state is None and (cluster_state is None or len(cluster_state.nodes) < cluster_state.size):
        raise SystemExit(1)


COMMANDS = [local_group]  # ``ecombus down`` (everything) lives in bus/tools/cli/stack.py
