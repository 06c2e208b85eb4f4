"""Doing a fault of the schedule to the running bus, undoing it, and timing the recovery.

:meth:`Injector.inject` does one :class:`~simulators.chaos.plan.Fault` and returns its
:class:`Outcome`; the runner calls it in a thread of its own at the fault's time. What each kind
does, and what "recovered" means for it:

* ``kill``: SIGKILL the replica's process group, start it again after ``seconds`` (same
  instance id, ports and state folder); ready when its ``/readyz`` answers 200, recovered when
  it consumes again: every consumer group it was a member of is stable with it back in it once,
  holding partitions (the member of its previous life is gone only once its session expired).
  A replica that exits while coming back is started again after a back-off, and the exit counted.
* ``broker-kill``: SIGKILL the node's JVM, start it again after ``seconds``; recovered when no
  partition has fewer in-sync replicas than replicas (the node started and caught up).
* ``broker-pause``: SIGSTOP the JVM for ``seconds`` (longer than the brokers' session with the
  controller, which fences it), then SIGCONT; recovered as for a kill.
* ``storm``: the simulator answers 5xx, 429 or slowly for ``seconds`` (``POST /_sim/storm``);
  recovered at the first 2xx its API gave after the storm ended.

One broker is faulted at a time: a broker fault first waits (bounded) for the previous one to
have recovered, and the wait is reported. Every wait is bounded by ``recovery_timeout``; a fault
that did not recover within it has ``recovered_at`` None, which the report counts as a failure.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from bus.errors import SetupError
from bus.tools.local.broker import tail
from simulators.chaos.brokers import Brokers
from simulators.chaos.fleet import Fleet, Replica
from simulators.chaos.plan import Fault
from simulators.chaos.watch import ClusterWatch

POLL_S = 0.25


@dataclass
class Outcome:
    """What happened when a fault was done.

    Attributes:
        started_at / ended_at / recovered_at: epoch seconds: injected, undone (restart issued,
            SIGCONT sent, storm over), recovered (None: not within the timeout).
        delayed: seconds the injection waited for the previous broker fault to recover.
        note: anything unusual (a fault that could not be done says why).
    """

    fault: Fault
    started_at: float
    ended_at: float | None = None
    recovered_at: float | None = None
    delayed: float = 0.0
    note: str = ""
    crashes: int = 0
    """Times the replica exited on its own while coming back (and was started again)."""
    ready_at: float | None = None
    """A killed replica's ``/readyz`` answered 200 (its recovery is when it consumes again)."""

    @property
    def recovery(self) -> float | None:
        """Seconds from the fault's end to the recovery."""
        if self.recovered_at is None or self.ended_at is None:
            return None
        return max(0.0, self.recovered_at - self.ended_at)


class Injector:
    """Does faults to one run's fleet, brokers and simulators.

    Args:
        fleet: the processes (services and simulators).
        brokers: the Kafka nodes.
        watch: what the cluster says (groups, replication), read by a child process.
        simulators: storm target (``storefront``, ``crm``, ``erp``) → the simulator's base URL.
        say: where progress lines go.
        recovery_timeout: the longest wait for any recovery.
    """

    def __init__(self, fleet: Fleet, brokers: Brokers, simulators: dict[str, str], watch: ClusterWatch,
                 say: Callable[[str], None], recovery_timeout: float = 300.0) -> None:
        self.fleet, self.brokers, self.simulators, self.watch = fleet, brokers, simulators, watch
        self.say, self.recovery_timeout = say, recovery_timeout
        self._broker_turn = threading.Lock()
        self._replica_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def inject(self, fault: Fault) -> Outcome:
        """Do ``fault``, undo it, wait for the recovery (bounded); never raises for a fault that
        could not be done (the outcome's note says why)."""
        try:
            if fault.kind == "kill":
                return self._kill(fault)
            if fault.kind in ("broker-kill", "broker-pause"):
                with self._broker_turn:
                    return self._broker(fault)
            return self._storm(fault)
        except (SetupError, httpx.HTTPError, OSError) as exc:
            self.say(f"  {fault.describe()}: could not be done: {exc}")
            return Outcome(fault, time.time(), note=f"not done: {exc}")

    @contextlib.contextmanager
    def unless_busy(self, replica: Replica) -> Iterator[bool]:
        """Hold the replica while the block runs (True) unless a fault is being done to it (killed,
        or coming back: False). A kill of it waits until the block ends, so what the block sees
        dead died on its own."""
        lock = self._lock_of(replica)
        held = lock.acquire(blocking=False)
        try:
            yield held
        finally:
            if held:
                lock.release()

    def _lock_of(self, replica: Replica) -> threading.Lock:
        with self._locks_lock:
            return self._replica_locks.setdefault(replica.name, threading.Lock())

    def _kill(self, fault: Fault) -> Outcome:
        replica = self.fleet.replica(fault.target, fault.replica)
        with self._lock_of(replica):  # a replica still coming back is killed once it is back
            groups = self._groups_of(replica.name)
            outcome = Outcome(fault, time.time())
            self.fleet.send(replica, signal.SIGKILL)
            time.sleep(fault.seconds)
            self.fleet.start(replica)
            outcome.ended_at = time.time()
            outcome.ready_at = self._until(lambda: self._back(replica, outcome))
            if outcome.ready_at is not None:
                since = outcome.ready_at
                outcome.recovered_at = self._until(lambda: self._consuming(replica.name, groups, since))
        if outcome.ready_at is not None and outcome.ended_at is not None:
            self.say(f"  {replica.name} ready {outcome.ready_at - outcome.ended_at:.1f} s after its restart")
        self._said(outcome, f"{replica.name} consuming again ({', '.join(sorted(groups)) or 'no group'})")
        return outcome

    def broken(self, since: float) -> list[str]:
        """What is not whole again, as seen after ``since``: a replica down or not ready, a broker
        down, a partition under-replicated, a group not stable with each replica in it once,
        holding partitions. Empty: the bus is whole."""
        found = [f"{r.name} not ready" for r in self.fleet.replicas if r.number and not self.fleet.ready(r)]
        found += [f"broker {n} down" for n in self.brokers.nodes if not self.brokers.running(n)]
        if self._replicated(since) is None:
            found.append("partitions under-replicated (or not read since)")
        at, members = self.watch.groups()
        for replica in self.fleet.replicas:
            groups = self._groups_of(replica.name)
            if replica.number and groups and self._consuming(replica.name, groups, since) is None:
                seen = "; ".join(f"{g}: {members[g]}" if g in members else f"{g}: not described"
                                 for g in sorted(groups))
                found.append(f"{replica.name} not consuming (groups read {time.time() - at:.0f} s ago: "
                             f"{seen})")
        return found

    def _groups_of(self, client_id: str) -> set[str]:
        """The consumer groups the replica is, or was seen, a member of (its client id is its name)."""
        return self.watch.known(client_id)

    def _consuming(self, client_id: str, groups: set[str], since: float) -> float | None:
        """When each of ``groups`` was seen stable with the replica in it once, holding partitions
        (the member of its previous life gone, its session expired), in a reading begun after
        ``since``; None while not."""
        at, members = self.watch.groups()
        if at <= since:
            return None
        for group in groups:
            stable, found = members.get(group, (False, []))
            mine = [partitions for client, partitions in found if client == client_id]
            if not stable or len(mine) != 1 or mine[0] == 0:
                return None
        return at

    def _back(self, replica: Replica, outcome: Outcome) -> bool:
        """Whether the restarted replica is ready; one that exited meanwhile is started again after
        a back-off doubling from 1 s (as Kubernetes' CrashLoopBackOff), and the exit noted."""
        if self.fleet.alive(replica):
            return self.fleet.ready(replica)
        outcome.crashes += 1
        self.say(f"  {replica.name} exited while coming back ({outcome.crashes}): "
                 f"{tail(self.fleet.log_file(replica), 1)[:200]}")
        time.sleep(min(2.0 ** (outcome.crashes - 1), 16.0))
        self.fleet.start(replica)
        return False

    def _broker(self, fault: Fault) -> Outcome:
        waited = time.time()
        self._until(lambda: self._replicated(waited))  # the previous broker fault has recovered
        outcome = Outcome(fault, time.time(), delayed=time.time() - waited)
        node = fault.replica
        if outcome.delayed > 1:
            self.say(f"  {fault.describe()}: done now, after {outcome.delayed:.0f} s waiting for the "
                     "previous broker fault to recover")
        if fault.kind == "broker-kill":
            self.brokers.send(node, signal.SIGKILL)
            time.sleep(fault.seconds)
            outcome.ended_at = time.time()  # the restart is issued: its JVM's start counts
            self.brokers.restart(node)
        else:
            self.brokers.send(node, signal.SIGSTOP)
            time.sleep(fault.seconds)
            self.brokers.send(node, signal.SIGCONT)
            outcome.ended_at = time.time()
        since = outcome.ended_at
        outcome.recovered_at = self._until(lambda: self._replicated(since))
        self._said(outcome, f"broker {node} back in every in-sync replica set")
        return outcome

    def _replicated(self, since: float) -> float | None:
        """When a reading begun after ``since`` found no partition under-replicated; None while not."""
        at, under = self.watch.replication()
        return at if at > since and under == 0 else None

    def _storm(self, fault: Fault) -> Outcome:
        url = self.simulators[fault.target]
        outcome = Outcome(fault, time.time())
        httpx.post(f"{url}/_sim/storm", json={"mode": fault.mode, "seconds": fault.seconds,
                                              "latency_seconds": 3.0, "retry_after": 1.0},
                   timeout=10).raise_for_status()
        time.sleep(fault.seconds)
        outcome.ended_at = outcome.started_at + fault.seconds

        def answered_since() -> float | None:
            last = httpx.get(f"{url}/_sim/storm", timeout=10).json().get("last_ok_at")
            return float(last) if last is not None and last > (outcome.ended_at or 0) else None

        outcome.recovered_at = self._until(answered_since)
        self._said(outcome, f"{fault.target} answered 2xx again")
        return outcome

    def _until(self, check: Callable[[], bool | float | None]) -> float | None:
        """Poll ``check`` until it is truthy (a float is the moment it became so) or the timeout."""
        deadline = time.monotonic() + self.recovery_timeout
        while time.monotonic() < deadline:
            try:
                found = check()
            except httpx.HTTPError:
                found = None
            if found:
                return found if isinstance(found, float) else time.time()
            time.sleep(POLL_S)
        return None

    def _said(self, outcome: Outcome, what: str) -> None:
        if outcome.recovery is None:
            self.say(f"  {outcome.fault.describe()}: NOT recovered within {self.recovery_timeout:.0f} s")
        else:
            self.say(f"  {what} {outcome.recovery:.1f} s after the fault ended")
