"""The Kafka of a chaos run, one node or a cluster, as something faults can be done to.

:class:`Brokers` wraps :class:`~bus.tools.local.broker.LocalBroker` (``--brokers 1``, for small
runs while developing) or :class:`~bus.tools.local.cluster.LocalCluster` (3 nodes: replication
factor 3, ``min.insync.replicas=2``) living in the run's folder on free ports below the
ephemeral range (:mod:`simulators.chaos.ports`), and gives the
runner what it needs: signal a node (SIGKILL, SIGSTOP, SIGCONT), start a killed node again, and
count the partitions whose in-sync replicas are fewer than their replicas (0 once a node that
came back has caught up), and tell the members of the consumer groups.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from bus.errors import SetupError
from bus.tools.local.broker import LocalBroker
from bus.tools.local.cluster import LocalCluster
from simulators.chaos.ports import steady_ports

START_TIMEOUT_S = 180.0
QUIET = logging.getLogger("ecombus.chaos.kafka")
"""Where the runner's own Kafka clients log (refused connections to a killed broker are expected)."""


class Brokers:
    """``count`` local Kafka nodes in ``home``.

    Args:
        home: where their data and logs live.
        count: 1 (a single node) or at least 3 (a cluster).
        progress: called with lines for people.
    """

    def __init__(self, home: Path, count: int, progress: Callable[[str], None] = print) -> None:
        self.count = count
        self._single: LocalBroker | None = None
        self._cluster: LocalCluster | None = None
        base = steady_ports(2 * count)  # clients, then controllers: they are bound again on restart
        if count == 1:
            self._single = LocalBroker(home / "kafka", port=base, controller_port=base + 1,
                                       progress=progress)
        else:
            self._cluster = LocalCluster(home / "kafka-cluster", brokers=count, port=base,
                                         controller_port=base + count, progress=progress)
        self.bootstrap = ""

    @property
    def nodes(self) -> list[int]:
        return list(range(1, self.count + 1))

    def start(self, timeout: float = START_TIMEOUT_S) -> str:
        """Start every node and wait until each serves clients; the bootstrap servers."""
        if self._single is not None:
            self.bootstrap = self._single.start(fresh=True, timeout=timeout).bootstrap_servers
        else:
            assert self._cluster is not None
            self.bootstrap = self._cluster.start(fresh=True, timeout=timeout).bootstrap_servers
        return self.bootstrap

    def _node(self, node: int) -> LocalBroker:
        if self._single is not None:
            return self._single
        assert self._cluster is not None
        return self._cluster.node(node)

    def send(self, node: int, sig: signal.Signals) -> None:
        """Send ``sig`` to the node's JVM (its process group).

        Raises:
            SetupError: that node is not running.
        """
        state = self._node(node).state()
        if state is None:
            raise SetupError(f"broker {node} is not running")
        try:
            os.killpg(state.pid, sig)
        except ProcessLookupError:
            return
        if sig == signal.SIGKILL:
            deadline = time.monotonic() + 15
            while self._node(node).state() is not None and time.monotonic() < deadline:
                time.sleep(0.1)

    def restart(self, node: int, timeout: float = START_TIMEOUT_S) -> None:
        """Start a killed node again (its data and ports are kept) and wait until it serves."""
        broker = self._node(node)
        broker.launch()
        broker.wait_ready(timeout)

    def running(self, node: int) -> bool:
        return self._node(node).state() is not None

    def stop(self) -> None:
        """Stop every node (SIGCONT first, so a paused one can take its SIGTERM)."""
        for node in self.nodes:
            with contextlib.suppress(SetupError):
                self.send(node, signal.SIGCONT)
        if self._single is not None:
            self._single.stop()
        elif self._cluster is not None:
            self._cluster.stop()
