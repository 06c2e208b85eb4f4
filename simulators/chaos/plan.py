"""The seeded fault schedule of a chaos run: what breaks, when, for how long.

:func:`plan_faults` turns a seed, the run's length and the fault counts into a list of
:class:`Fault`, sorted by time; the same inputs always give the same schedule. Faults of one
kind are spread over the run by stratified sampling: the window between the warm-up and the
cool-down is cut into as many slots as there are faults of that kind, and each fault falls at a
random point of its slot, so they neither bunch up nor tick like a metronome.

Broker faults (kills and pauses, shuffled together) share one series of slots: one broker is
broken at a time, since a replication factor of 3 with ``min.insync.replicas=2`` survives the
loss of one node, not two (the runner also waits for the previous broker fault to have
recovered). Storms rotate over the simulators and over the modes ``5xx``, ``429`` and ``slow``.

:func:`parse_fault` reads an explicit fault (``--fault kill:router@20``): targeted runs, such as
the mutation checks, replace the random schedule with a few chosen faults.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from bus.errors import ConfigError

Kind = Literal["kill", "broker-kill", "broker-pause", "storm"]
KINDS: tuple[Kind, ...] = ("kill", "broker-kill", "broker-pause", "storm")
STORM_TARGETS = ("storefront", "crm", "erp")
STORM_MODES = ("5xx", "429", "slow")


@dataclass(frozen=True)
class Fault:
    """One fault of the schedule.

    Attributes:
        at: seconds after the traffic started.
        kind: ``kill`` (SIGKILL a service replica, restart it after ``seconds``), ``broker-kill``
            (SIGKILL a node, restart it after ``seconds``), ``broker-pause`` (SIGSTOP a node for
            ``seconds``, then SIGCONT), ``storm`` (a simulator misbehaves for ``seconds``).
        target: the service (kill), ``broker``, or the simulator (storm).
        replica: which replica (1-based) or which broker node.
        seconds: how long the fault lasts before it is undone.
        mode: a storm's mode (``5xx``, ``429``, ``slow``).
    """

    at: float
    kind: Kind
    target: str
    replica: int = 1
    seconds: float = 0.0
    mode: str | None = None

    def describe(self) -> str:
        """One line for people: ``kill order-capture-2 (restart after 2.1 s)``."""
        if self.kind == "kill":
            return f"SIGKILL {self.target}-{self.replica}, restart after {self.seconds:.1f} s"
        if self.kind == "broker-kill":
            return f"SIGKILL broker {self.replica}, restart after {self.seconds:.1f} s"
        if self.kind == "broker-pause":
            return f"SIGSTOP broker {self.replica} for {self.seconds:.1f} s, then SIGCONT"
        return f"{self.target} storm: {self.mode} for {self.seconds:.1f} s"


@dataclass(frozen=True)
class FaultCounts:
    """How many faults of each kind a run injects."""

    kills_per_service: int = 5
    broker_kills: int = 5
    broker_pauses: int = 5
    storms: int = 6


@dataclass(frozen=True)
class Timing:
    """How long faults last and where they may fall.

    Attributes:
        warmup / cooldown: seconds at the start and the end of the traffic without faults.
        restart_after: (min, max) seconds a killed replica stays down (a kubelet's restart delay).
        broker_down: seconds a killed broker stays down.
        pause: seconds a broker stays stopped: longer than its session with the controller
            (``broker.session.timeout.ms``, 9 s), so the controller fences it and moves its
            leaderships, and longer than the intake stages' consumer sessions (10 s).
        storm: (min, max) seconds a storm lasts.
        broker_slot: the least time one broker fault and its recovery need.
    """

    warmup: float = 15.0
    cooldown: float = 20.0
    restart_after: tuple[float, float] = (0.5, 4.0)
    broker_down: float = 5.0
    pause: float = 15.0
    storm: tuple[float, float] = (6.0, 15.0)
    broker_slot: float = 25.0


def plan_faults(seed: int, duration: float, counts: FaultCounts, replicas: Mapping[str, int],
                brokers: int, timing: Timing = Timing()) -> list[Fault]:
    """The schedule of a run of ``duration`` seconds of traffic (see the module docstring).

    Args:
        seed: the same seed gives the same schedule.
        duration: seconds of traffic.
        counts: faults of each kind.
        replicas: service → how many replicas run (a kill picks one at random).
        brokers: broker nodes (a broker fault picks one at random).
        timing: durations and margins.

    Raises:
        ConfigError: the broker faults do not fit in the window (each needs ``broker_slot`` s).
    """
    rng = random.Random(seed)
    start, end = timing.warmup, duration - timing.cooldown
    if end <= start:
        raise ConfigError(f"--duration {duration:.0f}: at least {timing.warmup + timing.cooldown + 1:.0f} s "
                          "are needed (warm-up and cool-down without faults)")
    faults: list[Fault] = []
    for service in sorted(replicas):
        for at in _spread(rng, start, end, counts.kills_per_service):
            faults.append(Fault(at, "kill", service, rng.randint(1, replicas[service]),
                                round(rng.uniform(*timing.restart_after), 1)))
    kill: Kind = "broker-kill"
    pause: Kind = "broker-pause"
    broker_kinds = [kill] * counts.broker_kills + [pause] * counts.broker_pauses
    rng.shuffle(broker_kinds)
    if broker_kinds and (end - start) / len(broker_kinds) < timing.broker_slot:
        needed = timing.warmup + timing.cooldown + len(broker_kinds) * timing.broker_slot
        raise ConfigError(f"{len(broker_kinds)} broker faults need at least {needed:.0f} s of traffic "
                          f"({timing.broker_slot:.0f} s each): raise --duration or lower the counts")
    for kind, at in zip(broker_kinds, _spread(rng, start, end, len(broker_kinds), jitter=0.3), strict=True):
        seconds = timing.broker_down if kind == "broker-kill" else timing.pause
        faults.append(Fault(at, kind, "broker", rng.randint(1, brokers), seconds))
    targets, modes = list(STORM_TARGETS), list(STORM_MODES)
    rng.shuffle(targets)
    rng.shuffle(modes)
    for number, at in enumerate(_spread(rng, start, end, counts.storms)):
        faults.append(Fault(at, "storm", targets[number % len(targets)], 1,
                            round(rng.uniform(*timing.storm), 1),
                            modes[(number // len(targets) + number) % len(modes)]))
    return sorted(faults, key=lambda f: (f.at, f.kind, f.target, f.replica))


def _spread(rng: random.Random, start: float, end: float, count: int, jitter: float = 1.0) -> list[float]:
    """``count`` times in [start, end): one per equal slot, at a random point of its first
    ``jitter`` fraction."""
    if count <= 0:
        return []
    slot = (end - start) / count
    return [round(start + i * slot + rng.uniform(0, slot * jitter), 1) for i in range(count)]


_FAULT = re.compile(r"^(?P<kind>kill|broker-kill|broker-pause|storm):(?P<target>[a-z0-9-]+)"
                    r"(?::(?P<mode>5xx|429|slow))?@(?P<at>\d+(?:\.\d+)?)(?:\+(?P<seconds>\d+(?:\.\d+)?))?$")


def parse_fault(text: str, services: Sequence[str] = ()) -> Fault:
    """An explicit fault: ``KIND:TARGET[:MODE]@AT[+SECONDS]``.

    Examples: ``kill:router@20`` (replica 1), ``kill:order-capture-2@30+3``,
    ``broker-kill:2@40+5`` (node 2), ``broker-pause:1@60+12``, ``storm:erp:slow@10+20``.

    Raises:
        ConfigError: the text does not follow the form, or names an unknown service or simulator.
    """
    found = _FAULT.match(text.strip())
    if found is None:
        raise ConfigError(f"--fault {text!r}: expected KIND:TARGET[:MODE]@AT[+SECONDS], e.g. "
                          "kill:router@20, broker-pause:2@60+12, storm:erp:slow@10+20")
    kind, target, mode = found["kind"], found["target"], found["mode"]
    at, seconds = float(found["at"]), float(found["seconds"] or 0)
    if kind == "storm":
        if target not in STORM_TARGETS:
            raise ConfigError(f"--fault {text!r}: a storm hits one of {', '.join(STORM_TARGETS)}")
        return Fault(at, "storm", target, 1, seconds or 10.0, mode or "5xx")
    if kind in ("broker-kill", "broker-pause"):
        if not target.isdigit():
            raise ConfigError(f"--fault {text!r}: name the broker node by its number (1, 2, 3)")
        default = Timing().broker_down if kind == "broker-kill" else Timing().pause
        return Fault(at, kind, "broker", int(target), seconds or default)  # type: ignore[arg-type]
    service, _, number = target.rpartition("-")
    service, replica = (service, int(number)) if number.isdigit() and service else (target, 1)
    if services and service not in services:
        raise ConfigError(f"--fault {text!r}: no service {service!r} (one of {', '.join(services)})")
    return Fault(at, "kill", service, replica, seconds or 1.0)
