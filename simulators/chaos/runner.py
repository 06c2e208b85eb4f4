"""A chaos run from start to verdict: :func:`run`.

1. The testbed starts (Kafka, registry, topics, simulators, every replica, the stock file).
2. Traffic runs for ``duration`` seconds at ``rate`` orders per second while the schedule's
   faults are done, each in a thread of its own at its time (and the ERP's late stock file falls
   a third into it); a heartbeat line every
   ``heartbeat`` seconds, one line per fault and per recovery. A replica that dies without
   being killed is restarted (as Kubernetes would) and counted.
3. Orders stop; the platforms' retries in hand finish (bounded); the faults in hand recover
   (bounded).
4. The bus settles: the evidence is read again every few seconds until no eventual promise is
   pending or ``settle_timeout`` passed. Dead letters of transient failures while a fault lasted
   are replayed (``ecombus dlq replay SERVICE --where kind=transient``, what an operator does
   after an outage) when the service has no other dead letter.
5. The report: every invariant's row, the recoveries, the webhook latency; the testbed stops.

Every wait is bounded; the run's folder keeps every log (``<home>/logs``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from bus.errors import BusError
from bus.ops.dlq import Filter
from bus.ops.dlq import replay as replay_dead_letters
from bus.tools.local.broker import tail
from simulators.chaos.evidence import DeadLetter, EvidenceReader
from simulators.chaos.faults import Injector, Outcome
from simulators.chaos.fleet import Replica
from simulators.chaos.invariants import Row, Window, dead_letter_rows, is_expected, judge, pending
from simulators.chaos.plan import Fault, FaultCounts, plan_faults
from simulators.chaos.report import Report, fault_rows, latency_rows, windows
from simulators.chaos.testbed import LATE, SERVICES, Testbed, replica_counts
from simulators.chaos.traffic import Traffic, expected_demand
from simulators.chaos.watch import ClusterWatch

SETTLE_POLL_S = 5.0


@dataclass(frozen=True)
class Options:
    """What ``ecombus chaos`` was asked (see its ``--help``)."""

    home: Path
    duration: float = 120.0
    rate: float = 4.0
    seed: int = 1
    brokers: int = 3
    replicas: int = 2
    counts: FaultCounts = field(default_factory=FaultCounts)
    faults: tuple[Fault, ...] = ()
    """Explicit faults: replace the seeded schedule when given."""
    services: tuple[str, ...] = SERVICES
    mutation: str | None = None
    settle_timeout: float = 180.0
    recovery_timeout: float = 300.0
    heartbeat: float = 10.0
    settings: dict[str, str] = field(default_factory=dict)
    """Environment for every process on top of the run's (``--set KEY=VALUE``)."""


def run(options: Options, say: Callable[[str], None] = print) -> Report:
    """Run the whole thing (see the module docstring); the report says whether every invariant held.

    Raises:
        SetupError: the testbed could not start (nothing is left running).
    """
    replicas = replica_counts(options.services, options.replicas)
    schedule = list(options.faults) or plan_faults(options.seed, options.duration, options.counts, replicas,
                                                   options.brokers)
    report = Report(options.seed, {k: str(v) for k, v in asdict(options).items() if k != "faults"})
    say(f"chaos run: seed {options.seed}, {options.duration:.0f} s at {options.rate:g} orders/s, "
        f"{options.brokers} broker(s), {len(schedule)} faults; folder {options.home}")
    began = time.monotonic()
    testbed = Testbed(options.home, options.brokers, replicas, options.mutation, say, options.settings)
    try:
        testbed.start(expected_demand(options.rate * options.duration))
        report.durations["setup"] = time.monotonic() - began
        _drive(options, testbed, schedule, report, say)
    finally:
        say("stopping the testbed")
        testbed.stop()
    return report


def _drive(options: Options, testbed: Testbed, schedule: list[Fault], report: Report,
           say: Callable[[str], None]) -> None:
    """Steps 2 to 5 of the module docstring on a started testbed; fills ``report``."""
    traffic = Traffic(testbed.url("storefront-sim"), testbed.url("carrier-sim"), rate=options.rate,
                      seed=options.seed)
    watch = ClusterWatch(testbed.bootstrap)
    injector = Injector(testbed.fleet, testbed.brokers, testbed.simulators, watch, say,
                        options.recovery_timeout)
    watchdog = _Watchdog(testbed, injector, say)
    watchdog.start()
    watch.start()
    try:
        started = time.monotonic()
        outcomes, faults = _traffic_with_faults(options, testbed, traffic, injector, schedule, say)
        report.durations["traffic"] = time.monotonic() - started
        left = traffic.finish(timeout=45.0)
        say(f"traffic stopped: {traffic.counts()['sent']} orders sent; {left} retries given up at the bound")
        fault_deadline = time.monotonic() + options.recovery_timeout + 60
        for thread in faults:
            thread.join(max(0.0, fault_deadline - time.monotonic()))
        settle_began = time.monotonic()
        rows, replayed = _settle(options, testbed, traffic, outcomes, injector, say)
        report.durations["settle"] = time.monotonic() - settle_began
    finally:
        exits, unlive = watchdog.stop()
        watch.stop()
    report.outcomes = sorted(outcomes, key=lambda o: o.started_at)
    report.rows = [*rows, *replayed, *fault_rows(report.outcomes),
                   *latency_rows(traffic.attempts(), windows(report.outcomes)),
                   Row("processes", f"{len(exits)} exits without a kill, {len(unlive)} liveness "
                                    f"failures (each restarted, as Kubernetes would); the cluster watch "
                                    f"started again {watch.restarts} time(s)", None, [*exits, *unlive][:5])]


def _traffic_with_faults(options: Options, testbed: Testbed, traffic: Traffic, injector: Injector,
                         schedule: list[Fault], say: Callable[[str], None]
                         ) -> tuple[list[Outcome], list[threading.Thread]]:
    """Orders for ``duration`` seconds, each fault in a thread of its own at its time, the late
    stock file a third in, a heartbeat line; the outcomes (filled as the threads end) and threads."""
    stop, started = threading.Event(), time.monotonic()
    outcomes: list[Outcome] = []
    faults: list[threading.Thread] = []
    orders = threading.Thread(target=traffic.run, args=(stop,), name="chaos-orders", daemon=True)
    orders.start()
    waiting = sorted(schedule, key=lambda f: f.at)
    next_beat, late_stock = options.heartbeat, options.duration / 3
    while (elapsed := time.monotonic() - started) < options.duration:
        if late_stock and elapsed >= late_stock:
            late_stock = 0.0
            testbed.drop_late_stock()
            say(f"+{elapsed:6.1f}s the ERP's first stock file of {LATE} dropped (its orders waited for it)")
        while waiting and waiting[0].at <= elapsed:
            fault = waiting.pop(0)
            say(f"+{elapsed:6.1f}s fault: {fault.describe()}")
            faults.append(threading.Thread(target=lambda f=fault: outcomes.append(injector.inject(f)),
                                           name=f"chaos-{fault.kind}", daemon=True))
            faults[-1].start()
        if elapsed >= next_beat:
            next_beat += options.heartbeat
            counts = traffic.counts()
            say(f"+{elapsed:6.1f}s {counts['sent']} orders sent ({counts['sent'] / max(elapsed, 1):.1f}/s), "
                f"{counts['acknowledged']} acknowledged, {counts['waiting']} retries/duplicates/parcels due; "
                f"faults {len(outcomes)} done, {sum(t.is_alive() for t in faults)} in progress")
        time.sleep(0.1)
    stop.set()
    orders.join(30)
    return outcomes, faults


def _settle(options: Options, testbed: Testbed, traffic: Traffic, outcomes: list[Outcome], injector: Injector,
            say: Callable[[str], None]) -> tuple[list[Row], list[Row]]:
    """Read the evidence again until nothing eventual is pending and the bus is whole again, or
    the bound passed (a reading that fails is tried again at the next turn); the invariants' rows
    (``whole again`` and ``settled`` first) and the dead letters' row."""
    reader = EvidenceReader(testbed.bootstrap, testbed.registry_url, testbed.simulators)
    began, replayed, since = time.monotonic(), 0, time.time()
    deadline = began + options.settle_timeout
    rows: list[Row] = []
    waiting = ["the evidence could not be read"]
    try:
        while True:
            try:
                evidence = reader.refresh()
            except (BusError, httpx.HTTPError) as exc:
                say(f"settling: reading the evidence failed ({exc}); again in {SETTLE_POLL_S:.0f} s")
            else:
                broken = injector.broken(since)
                whole = Row("whole again", "every replica ready and consuming, every broker in sync"
                            if not broken else f"{len(broken)} part(s) not yet", not broken, broken[:5],
                            waiting=bool(broken))
                rows = [whole, *judge(evidence, traffic.orders, traffic.shipments, testbed.stock)]
                waiting = pending(rows)
                replayed += _replay_expected(testbed, evidence.dead_letters, windows(outcomes), replayed, say)
            if not waiting or time.monotonic() > deadline:
                break
            say(f"settling ({time.monotonic() - began:.0f} s): " + "; ".join(waiting))
            time.sleep(SETTLE_POLL_S)
        took = time.monotonic() - began
        settled = Row("settled", f"in {took:.0f} s (bound {options.settle_timeout:.0f} s)" if not waiting
                      else f"NOT within {options.settle_timeout:.0f} s", not waiting, waiting[:5])
        dead = dead_letter_rows(reader.evidence.dead_letters, windows(outcomes), replayed)
        return [settled, *rows], dead
    finally:
        reader.close()


def _replay_expected(testbed: Testbed, dead: Sequence[DeadLetter], faults: Sequence[Window], done: int,
                     say: Callable[[str], None]) -> int:
    """Replay the services' transient dead letters of a fault, once each; how many were replayed now."""
    expected = [d for d in dead if is_expected(d, faults)]
    if len(expected) <= done:
        return 0
    replayed = 0
    for service in sorted({d.service for d in expected}):
        if any(d.service == service and not is_expected(d, faults) for d in dead):
            continue  # a dead letter no fault explains: leave the topic for people to look at
        result = replay_dead_letters({"bootstrap.servers": testbed.bootstrap}, service,
                                     [Filter.parse("kind=transient")])
        if result.replayed:
            say(f"replayed {result.replayed} dead letter(s) of {service} (transient, during a fault)")
        replayed += result.replayed
    return replayed


class _Watchdog:
    """Restarts replicas as Kubernetes would, in a thread of its own, from the start of the
    traffic to the end of the settling: those that die without a kill, and those whose liveness
    probe fails :data:`LIVENESS_FAILURES` times in a row, :data:`LIVENESS_PERIOD_S` apart (as the
    manifests' ``livenessProbe`` on ``/healthz``), once it has passed since their start. Before
    such a restart the replica is sent SIGUSR1, which writes its threads' stacks to its log
    (:func:`bus.assembly.stop_on_signals`). :meth:`stop` returns a line per restart."""

    def __init__(self, testbed: Testbed, injector: Injector, say: Callable[[str], None]) -> None:
        self.testbed, self.injector, self.say = testbed, injector, say
        self.exits: list[str] = []
        self.unlive: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-watchdog", daemon=True)
        self._probed: dict[int, tuple[float, int]] = {}  # pid -> (last probe, failures in a row)
        self._passed: set[int] = set()  # pids whose liveness passed once

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> tuple[list[str], list[str]]:
        """Stop watching; the restarts after an exit, and after failed liveness probes."""
        self._stop.set()
        self._thread.join(30)
        return list(self.exits), list(self.unlive)

    def _run(self) -> None:
        fleet = self.testbed.fleet
        while not self._stop.wait(1.0):
            for replica in fleet.replicas:
                if not replica.number:
                    continue
                with self.injector.unless_busy(replica) as free:  # no kill while we look and act
                    if not free or not replica.up:
                        continue
                    if not fleet.alive(replica):
                        last = tail(fleet.log_file(replica), 1)[:300]
                        self.exits.append(f"{replica.name}: {last}")
                        self.say(f"{replica.name} exited on its own; restarting it. Last log line: {last}")
                        fleet.start(replica)
                    elif self._probe_fails(replica):
                        self._restart_unlive(replica)

    def _probe_fails(self, replica: Replica) -> bool:
        """Probe the replica's liveness if a period has passed; whether it failed often enough."""
        pid = replica.pid or 0
        last, failures = self._probed.get(pid, (0.0, 0))
        if time.monotonic() - last < LIVENESS_PERIOD_S:
            return False
        live = self.testbed.fleet.live(replica)
        if live:
            self._passed.add(pid)
        failures = failures + 1 if live is False and pid in self._passed else 0
        self._probed[pid] = (time.monotonic(), failures)
        return failures >= LIVENESS_FAILURES

    def _restart_unlive(self, replica: Replica) -> None:
        fleet = self.testbed.fleet
        if replica.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(replica.pid, signal.SIGUSR1)  # its stacks, into its log
            time.sleep(1.0)
        self.unlive.append(f"{replica.name}: /healthz failed {LIVENESS_FAILURES} times; stacks in "
                           f"{fleet.log_file(replica).name}")
        self.say(f"{replica.name}: liveness probe failed {LIVENESS_FAILURES} times in a row "
                 f"({LIVENESS_PERIOD_S:.0f} s apart); its stacks are in its log; restarting it")
        fleet.send(replica, signal.SIGKILL)
        fleet.start(replica)


LIVENESS_PERIOD_S = 10.0
LIVENESS_FAILURES = 3
"""The manifests' livenessProbe (``deploy/k8s``: periodSeconds 10, failureThreshold 3)."""
