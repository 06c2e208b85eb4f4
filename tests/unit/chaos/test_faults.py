"""The injector's hold on a replica: the watchdog's look at a replica and a kill never interleave."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

from simulators.chaos.faults import Injector
from simulators.chaos.fleet import Fleet, Replica
from simulators.chaos.plan import Fault


class RecordingFleet(Fleet):
    """A fleet whose processes are only names: it records the signals and starts."""

    def __init__(self, home: Path, events: list[str]) -> None:
        super().__init__(home)
        self.events = events

    def send(self, replica: Replica, sig: signal.Signals = signal.SIGKILL) -> None:
        self.events.append(f"{sig.name} {replica.name}")

    def start(self, replica: Replica) -> None:
        self.events.append(f"start {replica.name}")

    def ready(self, replica: Replica) -> bool:
        return True

    def alive(self, replica: Replica) -> bool:
        return True


class NoGroups:
    def known(self, _client_id: str) -> set[str]:
        return set()

    def groups(self) -> tuple[float, dict[str, Any]]:
        return time.time() + 1, {}


def test_a_kill_waits_while_the_watchdog_holds_the_replica_and_the_watchdog_skips_it_meanwhile(
        tmp_path: Path) -> None:
    events: list[str] = []
    fleet = RecordingFleet(tmp_path, events)
    replica = fleet.add(Replica("router", 1, ["true"], {}))
    injector = Injector(fleet, None, {}, NoGroups(), lambda _line: None, recovery_timeout=5)  # type: ignore[arg-type]
    fault = Fault(0.0, "kill", "router", 1, 0.01)
    with injector.unless_busy(replica) as free:
        assert free
        killer = threading.Thread(target=injector.inject, args=(fault,))
        killer.start()
        time.sleep(0.3)
        events.append("watchdog done")
    killer.join(10)
    assert events[:3] == ["watchdog done", "SIGKILL router-1", "start router-1"]

    started = threading.Event()
    release = threading.Event()

    def slow_kill() -> None:
        with injector.unless_busy(replica) as held:  # as _kill holds it through the restart
            assert held
            started.set()
            release.wait(5)

    thread = threading.Thread(target=slow_kill)
    thread.start()
    started.wait(5)
    with injector.unless_busy(replica) as free:
        assert not free, "a replica a fault is being done to is not the watchdog's"
    release.set()
    thread.join(5)
