"""``ecombus chaos``: drive the whole bus under faults and check what survives.

Contributed to ``ecombus`` through the ``ecombus.commands`` entry point ``chaos``
(pyproject.toml), as ``ecombus demo`` is. ``make chaos`` runs the ``--full`` preset.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path
from typing import Any

import click

from bus.errors import BusError
from bus.tools.local.paths import state_dir
from simulators.chaos.mutations import MUTATIONS
from simulators.chaos.plan import FaultCounts, parse_fault
from simulators.chaos.runner import Options, run
from simulators.chaos.testbed import SERVICES

PRESETS: dict[str, dict[str, Any]] = {
    "bounded": {"brokers": 3, "duration": 300.0, "rate": 4.0, "kills": 5, "broker_kills": 5,
                "broker_pauses": 5, "storms": 6, "settle_timeout": 120.0, "recovery_timeout": 150.0},
    "full": {"brokers": 3, "duration": 1500.0, "rate": 5.0, "kills": 22, "broker_kills": 4,
             "broker_pauses": 3, "storms": 6, "settle_timeout": 300.0, "recovery_timeout": 300.0},
}
"""``--bounded`` (CI: 3 brokers, at least 5 faults of each kind, about 9 minutes in all) and
``--full`` (at least 20 SIGKILLs per service, 3+ broker kills, 2+ pauses, 3+ storms)."""


def _say(line: str) -> None:
    click.echo(f"{time.strftime('%H:%M:%S')} {line}", err=False)


@click.command("chaos")
@click.option("--bounded", "preset", flag_value="bounded",
              help="Preset for CI: 3 brokers, 300 s at 4 orders/s, 5 SIGKILLs per service, 5 broker kills, "
                   "5 broker pauses, 6 storms, settle within 120 s, recover within 150 s (under 10 "
                   "minutes in all, about 7 on a 2-core machine). Options given explicitly win over a "
                   "preset.")
@click.option("--full", "preset", flag_value="full",
              help="Preset of the acceptance run: 3 brokers, 1500 s at 5 orders/s, 22 SIGKILLs per service, "
                   "4 broker kills, 3 broker pauses, 6 storms, settle and recover within 300 s.")
@click.option("--duration", type=float, default=120.0, show_default=True,
              help="Seconds of traffic (faults fall between a 15 s warm-up and a 20 s cool-down).")
@click.option("--rate", type=float, default=4.0, show_default=True, help="Orders per second.")
@click.option("--seed", type=int, default=None,
              help="Seed of the fault schedule and the traffic; the same seed gives the same schedule "
                   "[default: a random one, printed].")
@click.option("--brokers", type=int, default=3, show_default=True,
              help="Kafka nodes: 1 (a single node, for small runs) or 3 and more (replication 3, min ISR 2).")
@click.option("--replicas", type=click.IntRange(min=1), default=2, show_default=True,
              help="Replicas of each service that may run several; single owners (inventory-sync, "
                   "crm-updater, router) always run one.")
@click.option("--kills", type=click.IntRange(min=0), default=3, show_default=True,
              help="SIGKILLs of each service (a random replica, restarted after 0.5-4 s).")
@click.option("--broker-kills", type=click.IntRange(min=0), default=1, show_default=True,
              help="SIGKILLs of a random broker (restarted after 5 s).")
@click.option("--broker-pauses", type=click.IntRange(min=0), default=1, show_default=True,
              help="SIGSTOPs of a random broker for 15 s (longer than its 9 s session with the controller "
                   "and the intake stages' 10 s consumer sessions), then SIGCONT.")
@click.option("--storms", type=click.IntRange(min=0), default=3, show_default=True,
              help="Downstream storms: the storefront, CRM or ERP simulator answers 5xx, 429 or slowly "
                   "for 6-15 s.")
@click.option("--fault", "faults", multiple=True, metavar="KIND:TARGET[:MODE]@AT[+SECONDS]",
              help="An explicit fault instead of the seeded schedule (repeatable): kill:router@20, "
                   "kill:order-capture-2@30+3, broker-kill:2@40+5, broker-pause:1@60+12, "
                   "storm:erp:slow@10+20.")
@click.option("--services", default=",".join(SERVICES), show_default=True,
              help="The services to run and fault, comma-separated.")
@click.option("--settle-timeout", type=float, default=120.0, show_default=True,
              help="Longest wait, after the traffic, for every eventual invariant to hold.")
@click.option("--recovery-timeout", type=float, default=300.0, show_default=True,
              help="Longest wait for one fault's recovery: a consumer group may wait for a member that "
                   "does not come back up to the rebalance timeout (max.poll.interval.ms, 5 minutes).")
@click.option("--heartbeat", type=float, default=10.0, show_default=True,
              help="Seconds between two progress lines.")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The run's folder (data, logs, ERP files) [default: a new one under "
                   "~/.local/state/ecombus/chaos].")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Environment for every process of the run (repeatable), e.g. "
                   "--set 'KAFKA_EXTRA_CONFIG={\"session.timeout.ms\": \"10000\"}'.")
@click.option("--mutation", type=click.Choice(sorted(MUTATIONS)), default=None,
              help="Run the services it touches with a deliberate bug (the mutation checks: the run must "
                   "then fail on the invariant the bug breaks).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the report as JSON to this file.")
@click.pass_context
def chaos(ctx: click.Context, preset: str | None, duration: float, rate: float, seed: int | None,
          brokers: int, replicas: int, kills: int, broker_kills: int, broker_pauses: int, storms: int,
          faults: tuple[str, ...], services: str, settle_timeout: float, recovery_timeout: float,
          heartbeat: float, home: Path | None, settings: tuple[str, ...], mutation: str | None,
          json_path: Path | None) -> None:
    """Drive the whole bus at a steady order rate and break it on a seeded schedule.

    Starts its own Kafka (3 nodes by default), registry, simulators and every service (2 replicas
    where the service allows it) on free ports of 127.0.0.1, sends orders and parcels through the
    simulators, and meanwhile SIGKILLs and restarts service replicas, SIGKILLs and restarts brokers,
    pauses brokers (SIGSTOP, SIGCONT) and has the storefront, CRM and ERP simulators answer 5xx, 429
    or slowly. Then it waits (bounded) for the bus to settle and checks every invariant from the
    topics and the simulators' records: nothing acknowledged lost, nothing doubled on exactly-once
    paths, nothing oversold, CRM figures exact, no unexpected dead letter, every fault recovered.

    Prints a line per fault and a heartbeat while it runs, then the table. Exit status 0 when every
    invariant held, 1 when one was violated, 2 when the run could not start, 130 when interrupted
    (SIGINT, SIGTERM: the testbed is stopped first). docs/operations.md explains the table.
    """
    values: dict[str, Any] = {"duration": duration, "rate": rate, "brokers": brokers, "kills": kills,
              "broker_kills": broker_kills, "broker_pauses": broker_pauses, "storms": storms,
              "settle_timeout": settle_timeout, "recovery_timeout": recovery_timeout}
    if preset:
        for name, value in PRESETS[preset].items():
            if ctx.get_parameter_source(name) == click.core.ParameterSource.DEFAULT:
                values[name] = value
    if values["brokers"] == 2:
        raise click.BadParameter("1, or 3 and more (replication factor 3)", param_hint="--brokers")
    seed = seed if seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    chosen = tuple(s.strip() for s in services.split(",") if s.strip())
    try:
        explicit = tuple(parse_fault(f, chosen) for f in faults)
        environment = dict(_pair(s) for s in settings)
        options = Options(
            home=home or state_dir() / "chaos" / f"run-{time.strftime('%Y%m%d-%H%M%S')}-seed{seed}",
            duration=values["duration"], rate=values["rate"], seed=seed, brokers=values["brokers"],
            replicas=replicas, counts=FaultCounts(values["kills"], values["broker_kills"],
                                                  values["broker_pauses"], values["storms"]),
            faults=explicit, services=chosen, mutation=mutation, settle_timeout=values["settle_timeout"],
            recovery_timeout=values["recovery_timeout"], heartbeat=heartbeat, settings=environment)
        signal.signal(signal.SIGTERM, _interrupted)  # the testbed is stopped on the way out
        report = run(options, _say)
    except BusError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        raise SystemExit(2) from exc
    except KeyboardInterrupt as exc:
        click.secho("interrupted; the testbed was stopped", fg="red", err=True)
        raise SystemExit(130) from exc
    click.echo("\n" + report.render())
    if json_path is not None:
        json_path.write_text(report.to_json(), encoding="utf-8")
    raise SystemExit(0 if report.ok else 1)


def _interrupted(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{text!r}: expected KEY=VALUE", param_hint="--set")
    return key, value
