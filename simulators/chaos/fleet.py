"""The processes of a chaos run: simulators and service replicas, started, killed and restarted.

A :class:`Replica` is one process the runner owns: a simulator (``crm-sim``) or one replica of a
service (``order-capture-2``), with its command, its environment (its own
``ECOMBUS_INSTANCE_ID``, admin port, HTTP port and state folder, the same on every restart, as a
StatefulSet pod keeps its name and volume) and where ``/readyz`` answers. The :class:`Fleet`
starts them through :mod:`bus.tools.local.processes` (own session, log in
``<home>/logs/<name>.log``, record in ``<home>/procs``), signals their process group, and says
which replicas are up for the balancers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bus.errors import SetupError
from bus.tools.local import processes
from bus.tools.local.broker import process_alive, tail


@dataclass
class Replica:
    """One process of the run.

    Attributes:
        service: the service (or simulator) it runs.
        number: which replica (1-based); 0 for a simulator, which runs once.
        argv / env: its command and environment (placeholders filled in).
        port: its HTTP port (webhooks), if any.
        admin_port: where ``/readyz`` answers (None: ``/readyz`` on ``port``).
        up: the runner's view: False from its kill until its restart (the balancer skips it).
    """

    service: str
    number: int
    argv: list[str]
    env: dict[str, str]
    port: int | None = None
    admin_port: int | None = None
    up: bool = False
    pid: int | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return f"{self.service}-{self.number}" if self.number else self.service

    @property
    def healthz(self) -> str | None:
        """Where its liveness answers (its admin server's ``/healthz``); None for a simulator."""
        return f"http://127.0.0.1:{self.admin_port}/healthz" if self.admin_port else None

    @property
    def readyz(self) -> str | None:
        port = self.admin_port or self.port
        return f"http://127.0.0.1:{port}/readyz" if port else None


class Fleet:
    """Every process of the run, living in ``home`` (logs, pid records).

    Args:
        home: the run's folder.
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        self.replicas: list[Replica] = []
        self._lock = threading.Lock()
        self._closed = False

    def add(self, replica: Replica) -> Replica:
        self.replicas.append(replica)
        return replica

    def of(self, service: str) -> list[Replica]:
        """The replicas of one service, by number."""
        return [r for r in self.replicas if r.service == service]

    def replica(self, service: str, number: int) -> Replica:
        """Replica ``number`` of ``service`` (a simulator's number is 0).

        Raises:
            SetupError: no such replica in this run.
        """
        for replica in self.of(service):
            if replica.number == number or (replica.number == 0 and number <= 1):
                return replica
        raise SetupError(f"this run has no replica {number} of {service}")

    def ports_up(self, service: str) -> list[int]:
        """HTTP ports of the service's replicas that are up (what its balancer may use)."""
        with self._lock:
            return [r.port for r in self.of(service) if r.up and r.port is not None]

    def start(self, replica: Replica) -> None:
        """Start (or restart) the replica's process, without waiting until it is ready.

        Raises:
            SetupError: the fleet is stopping (:meth:`stop_all` was called): nothing starts again.
        """
        if self._closed:
            raise SetupError(f"{replica.name} not started: the testbed is stopping")
        record = processes.start(replica.name, replica.argv, env=replica.env, home=self.home)
        with self._lock:
            replica.pid, replica.up = record.pid, True

    def send(self, replica: Replica, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send ``sig`` to the replica's process group (SIGKILL marks it down at once)."""
        if sig == signal.SIGKILL:
            with self._lock:
                replica.up = False
        self._signal_group(replica, sig)
        if sig == signal.SIGKILL and replica.pid is not None:
            deadline = time.monotonic() + 10
            while process_alive(replica.pid) and time.monotonic() < deadline:
                time.sleep(0.05)

    def ready(self, replica: Replica) -> bool:
        """Whether the replica's ``/readyz`` answers 200 now."""
        url = replica.readyz
        if url is None:
            return replica.pid is not None and process_alive(replica.pid)
        try:
            return httpx.get(url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def live(self, replica: Replica) -> bool | None:
        """Whether the replica's ``/healthz`` answers 200 now (its loops turn); None when it has
        no liveness to ask (a simulator)."""
        if replica.healthz is None:
            return None
        try:
            return httpx.get(replica.healthz, timeout=3.0).status_code == 200
        except httpx.HTTPError:
            return False

    def alive(self, replica: Replica) -> bool:
        return replica.pid is not None and process_alive(replica.pid)

    def wait_ready(self, replicas: Iterable[Replica], timeout: float) -> None:
        """Wait until every replica answers ``/readyz`` with 200.

        Raises:
            SetupError: one exited or was not ready in time (the message has its log tail).
        """
        waiting = list(replicas)
        deadline = time.monotonic() + timeout
        while waiting:
            for replica in list(waiting):
                if not self.alive(replica):
                    raise SetupError(f"{replica.name} exited during start-up; last lines of its log:\n"
                                     f"{tail(self.log_file(replica))}")
                if self.ready(replica):
                    waiting.remove(replica)
            if waiting and time.monotonic() > deadline:
                names = ", ".join(r.name for r in waiting)
                raise SetupError(f"not ready within {timeout:.0f} s: {names}; last lines of "
                                 f"{waiting[0].name}'s log:\n{tail(self.log_file(waiting[0]))}")
            time.sleep(0.25)

    def log_file(self, replica: Replica) -> Path:
        return self.home / "logs" / f"{replica.name}.log"

    def stop_all(self, timeout: float = 20.0) -> None:
        """SIGTERM every process at once, SIGKILL those left after ``timeout``; forget them all.
        Nothing starts again afterwards."""
        self._closed = True
        running = [r for r in self.replicas if self.alive(r)]
        for replica in running:
            replica.up = False
            self._signal_group(replica, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(self.alive(r) for r in running) and time.monotonic() < deadline:
            time.sleep(0.2)
        for replica in running:
            if self.alive(replica):
                self._signal_group(replica, signal.SIGKILL)
        for replica in self.replicas:
            processes.stop(replica.name, timeout=5.0, home=self.home)  # forgets the record

    @staticmethod
    def _signal_group(replica: Replica, sig: signal.Signals) -> None:
        if replica.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(replica.pid, sig)
