"""``ecombus up``, ``ecombus ps``, ``ecombus down``: the whole local bus (bus/tools/local/stack.py).

``up`` starts the broker and the registry (as ``ecombus local up``), creates the declared topics
(as ``ecombus topics apply``), then every process of :data:`bus.tools.local.stack.STACK` in the
background, and says where everything listens. ``ps`` shows what runs and whether it is ready.
``down`` stops all of it; data is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import click
from confluent_kafka.admin import AdminClient

from bus import topics as topics_lib
from bus.tools.cli.local import REGISTRY_PORT, local_broker, start_registry, stop_local
from bus.tools.cli.output import heading, progress
from bus.tools.local import processes
from bus.tools.local.broker import DEFAULT_PORT
from bus.tools.local.paths import state_dir
from bus.tools.local.stack import Stack


@dataclass(frozen=True)
class Infrastructure:
    """Where the broker and the registry of a running local bus are."""

    bootstrap: str
    registry: str
    broker_log: str


def start_infrastructure(port: int = DEFAULT_PORT, registry_port: int = REGISTRY_PORT, fresh: bool = False,
                         timeout: float = 120.0) -> Infrastructure:
    """The broker, the registry and the declared topics (idempotent)."""
    heading("local Kafka and schema registry")
    if fresh:
        processes.stop("registry")
    state = local_broker(port).start(fresh=fresh, timeout=timeout)
    registry = start_registry(state.bootstrap_servers, registry_port)
    progress(f"Kafka {state.kafka_version} at {state.bootstrap_servers}, registry at {registry}")
    heading("topics from deploy/topics.yaml")
    report = topics_lib.apply(AdminClient({"bootstrap.servers": state.bootstrap_servers}),
                              topics_lib.load_topics())
    progress(f"{len(report.created)} created, {len(report.unchanged)} already there, "
             f"{len(report.drift)} drift")
    return Infrastructure(state.bootstrap_servers, registry, str(state.log_file))


def start_stack(infra: Infrastructure, stack: Stack | None = None, timeout: float = 120.0) -> Stack:
    heading("services and simulators (bus/tools/local/stack.py)")
    stack = stack or Stack()
    stack.up(infra.bootstrap, infra.registry, progress, timeout)
    return stack


def print_summary(stack: Stack, infra: Infrastructure) -> None:
    click.echo(f"""
The local bus is running.
  Kafka     KAFKA_BOOTSTRAP_SERVERS={infra.bootstrap} (log: {infra.broker_log})
  Registry  SCHEMA_REGISTRY_URL={infra.registry}""")
    for state in stack.status():
        admin = state.spec.name in stack.admin_ports
        where = f"admin http://127.0.0.1:{stack.admin_ports[state.spec.name]}/readyz, " if admin else ""
        click.echo(f"  {state.spec.name:17} {state.listens}; {where}pid {state.pid}")
    click.echo(f"  Logs      {state_dir() / 'logs'}/<name>.log\n")


@click.command("up")
@click.option("--port", default=DEFAULT_PORT, show_default=True, help="Kafka client port on 127.0.0.1.")
@click.option("--registry-port", default=REGISTRY_PORT, show_default=True, envvar="ECOMBUS_REGISTRY_PORT")
@click.option("--fresh", is_flag=True, help="Delete the broker's data first (topics, offsets).")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for each process.")
def up(port: int, registry_port: int, fresh: bool, timeout: float) -> None:
    """Start the broker, the registry, every service and the simulators in the background."""
    infra = start_infrastructure(port, registry_port, fresh, timeout)
    print_summary(start_stack(infra, timeout=timeout), infra)
    click.echo("Try: ecombus ps | ecombus tail orders.placed.v1 --from-beginning | make demo | ecombus down")


@click.command("ps")
def ps() -> None:
    """What the local bus runs, and whether each process is ready (/readyz). Exit 1 if one is not."""
    broker = local_broker().state()
    registry = processes.record("registry")
    click.echo(f"{'NAME':18} {'PID':>7}  {'STATE':9}  WHERE")
    click.echo(f"{'kafka':18} {broker.pid if broker else '-':>7}  {'running' if broker else 'stopped':9}  "
               f"{broker.bootstrap_servers if broker else ''}")
    click.echo(f"{'registry':18} {registry.pid if registry else '-':>7}  "
               f"{'running' if registry else 'stopped':9}  "
               f"{f'http://127.0.0.1:{registry.port}' if registry and registry.port else ''}")
    healthy = broker is not None and registry is not None
    for state in Stack().status():
        label = "stopped" if state.pid is None else ("ready" if state.ready else "not ready")
        healthy = healthy and bool(state.ready)
        click.echo(f"{state.spec.name:18} {state.pid or '-':>7}  {label:9}  {state.listens}")
    if not healthy:
        raise SystemExit(1)


@click.command("down")
def down() -> None:
    """Stop everything the local bus started: services, simulators, registry, broker (data is kept)."""
    for name in Stack().down():
        click.echo(f"{name} stopped")
    stop_local()


COMMANDS = [up, ps, down]
