"""Run a local Apache Kafka cluster of several KRaft nodes from the cached jars (``--brokers 3``).

Every node is broker and controller at once (combined mode, like the single node of
:mod:`bus.tools.local.broker`), and the controllers form one quorum with a *static* voter set
(``controller.quorum.voters=1@127.0.0.1:<c1>,2@...,3@...``): the storage of each node is
formatted with the same cluster id and no ``--standalone``, so no node ever has to join the
quorum by itself. With three voters the metadata survives the loss of any one node.

Topics are replicated for that loss too: ``default.replication.factor=3`` and
``min.insync.replicas=2`` for new topics, and the internal topics (consumer offsets, transaction
state, share-group state) at replication factor 3 with a minimum of 2 in-sync replicas. A
producer with ``acks=all`` keeps writing while one node is down, and nothing it was told is
written is lost.

Everything lives in one *home* folder::

    <home>/ports.json        client and controller port of every node, fixed when the cluster is
                             formatted (the voters' addresses are part of each node's config)
    <home>/node-<id>/        one :class:`~bus.tools.local.broker.LocalBroker` home per node:
                             broker.json, server.properties, data/, logs/server.log, broker.out

Every port is chosen (and checked free) before formatting, never port 0. Data survives
stop/start unless ``fresh=True``. Stop sends SIGTERM to every node at once, then SIGKILL to any
still running after the timeout.
"""

from __future__ import annotations

import base64
import json
import shutil
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bus.errors import SetupError
from bus.tools.local.broker import (
    DEFAULT_PORT,
    SERVER_PROPERTIES,
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    BrokerState,
    LocalBroker,
    _signal_group,
    free_port,
    port_is_free,
)
from bus.tools.local.jars import KAFKA_VERSION

REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2


@dataclass(frozen=True)
class NodePorts:
    """The two ports of one node, as ``ports.json`` records them."""

    node_id: int
    port: int
    controller_port: int


@dataclass(frozen=True)
class ClusterState:
    """The nodes of a cluster that are running now (at least one)."""

    nodes: tuple[BrokerState, ...]
    size: int
    """How many nodes the cluster has, running or not."""

    @property
    def bootstrap_servers(self) -> str:
        """Every running node's client address, comma-separated (what clients bootstrap from)."""
        return ",".join(node.bootstrap_servers for node in self.nodes)

    @property
    def kafka_version(self) -> str:
        return self.nodes[0].kafka_version


class ClusterNode(LocalBroker):
    """One node of a :class:`LocalCluster`: its ports and the voters are given, not chosen."""

    def __init__(self, home: Path, ports: NodePorts, voters: str, cluster_id: Callable[[], str],
                 heap: str, kafka_version: str, progress: Callable[[str], None] | None) -> None:
        super().__init__(home, port=ports.port, controller_port=ports.controller_port, heap=heap,
                         kafka_version=kafka_version, progress=progress)
        self.node_id = ports.node_id
        self._voters = voters
        self._shared_cluster_id = cluster_id

    def _controller_port(self) -> int:
        assert self.controller_port is not None
        return self.controller_port

    def _properties(self, controller_port: int) -> str:
        return SERVER_PROPERTIES.format(
            node_id=self.node_id, quorum=f"controller.quorum.voters={self._voters}", port=self.port,
            controller_port=controller_port, data_dir=self.data_dir,
            replication=REPLICATION_FACTOR, min_isr=MIN_INSYNC_REPLICAS,
        )

    def _format_args(self) -> list[str]:
        return []  # the voters are static (controller.quorum.voters), nothing to bootstrap

    def _cluster_id(self, tool: list[str]) -> str:
        return self._shared_cluster_id()


class LocalCluster:
    """A local Kafka cluster of ``brokers`` combined broker+controller nodes living in ``home``.

    Args:
        home: the folder holding ``ports.json`` and one ``node-<id>`` folder per node.
        brokers: how many nodes (at least 3: replication factor 3, min ISR 2).
        port: the preferred client port of node 1 (nodes 2, 3 prefer the next ones); a taken
            preferred port is replaced by a free one. Used only when the cluster is formatted:
            afterwards the ports recorded in ``ports.json`` are kept.
        controller_port: the preferred controller port of node 1, likewise (default: any free
            ports, which the OS picks from its ephemeral range: a node that restarts may then find
            its port taken by an outgoing connection meanwhile).
        heap: each JVM's maximum heap.
        progress: called with human-readable progress lines.
    """

    def __init__(
        self,
        home: Path,
        brokers: int = 3,
        port: int = DEFAULT_PORT,
        heap: str = "512m",
        kafka_version: str = KAFKA_VERSION,
        progress: Callable[[str], None] | None = None,
        controller_port: int | None = None,
    ) -> None:
        if brokers < REPLICATION_FACTOR:
            raise SetupError(f"a local cluster needs at least {REPLICATION_FACTOR} brokers "
                             f"(replication factor {REPLICATION_FACTOR}); got {brokers}. "
                             "For one broker, leave out --brokers.")
        self.home = Path(home)
        self.brokers = brokers
        self.port = port
        self.controller_port = controller_port
        self.heap = heap
        self.kafka_version = kafka_version
        self._say = progress or (lambda _line: None)
        self._cluster_id: str | None = None
        self._nodes: dict[int, ClusterNode] = {}

    @property
    def ports_file(self) -> Path:
        return self.home / "ports.json"

    def node_home(self, node_id: int) -> Path:
        return self.home / f"node-{node_id}"

    def recorded_ports(self) -> list[NodePorts] | None:
        """The ports fixed when the cluster was formatted, or None before that."""
        try:
            raw = json.loads(self.ports_file.read_text(encoding="utf-8"))
            return [NodePorts(**node) for node in raw["nodes"]]
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def nodes(self) -> list[ClusterNode]:
        """One handle per node (by recorded ports; empty before the cluster was first started)."""
        ports = self.recorded_ports() or []
        voters = ",".join(f"{p.node_id}@127.0.0.1:{p.controller_port}" for p in ports)
        for node_ports in ports:
            node = self._nodes.get(node_ports.node_id)
            if node is None or (node.port, node.controller_port) != (node_ports.port,
                                                                     node_ports.controller_port):
                self._nodes[node_ports.node_id] = ClusterNode(
                    self.node_home(node_ports.node_id), node_ports, voters, self._new_cluster_id,
                    self.heap, self.kafka_version, self._say,
                )
        return [self._nodes[p.node_id] for p in ports]

    def node(self, node_id: int) -> ClusterNode:
        """The handle of node ``node_id`` (1-based).

        Raises:
            SetupError: no such node in the recorded cluster.
        """
        for node in self.nodes():
            if node.node_id == node_id:
                return node
        raise SetupError(f"the cluster in {self.home} has no node {node_id}: start it first "
                         "('ecombus local up --brokers 3')")

    def state(self) -> ClusterState | None:
        """The running nodes, or None if none runs."""
        nodes = self.nodes()
        running = tuple(s for s in (node.state() for node in nodes) if s is not None)
        return ClusterState(running, len(nodes)) if running else None

    def start(self, fresh: bool = False, timeout: float = START_TIMEOUT_S) -> ClusterState:
        """Start every node that is not running (all at once) and wait until all serve clients.

        With ``fresh`` the running nodes are stopped and the data and ports are discarded first.

        Raises:
            SetupError: Java/Maven missing, a recorded port in use, or a node died or was not
                ready within ``timeout`` (then every node is stopped; the message holds its log).
        """
        if fresh:
            self.stop()
            for node_ports in self.recorded_ports() or []:
                shutil.rmtree(self.node_home(node_ports.node_id) / "data", ignore_errors=True)
            self.ports_file.unlink(missing_ok=True)
        if not self._formatted():
            self._choose_ports()
        nodes = self.nodes()
        to_start = [node for node in nodes if node.state() is None]
        for node in to_start:
            for what, port in (("client", node.port), ("controller", node.controller_port)):
                if port is not None and not port_is_free(port):
                    raise SetupError(
                        f"{what} port {port} of node {node.node_id} is already in use on 127.0.0.1 "
                        f"(the ports were fixed when the cluster in {self.home} was formatted). "
                        "Stop what listens there, or start over with new ports: "
                        "'ecombus local up --brokers 3 --fresh' (deletes the cluster's data)."
                    )
        try:
            for node in to_start:
                node.launch()
            deadline = time.monotonic() + timeout
            for node in to_start:
                node.wait_ready(max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        state = self.state()
        if state is None or len(state.nodes) != len(nodes):
            self.stop()
            raise SetupError(f"a node of the cluster in {self.home} stopped during start-up; "
                             f"see {self.home}/node-*/logs/server.log")
        self._say(f"Kafka cluster of {len(nodes)} ready at {state.bootstrap_servers}")
        return state

    def _formatted(self) -> bool:
        ports = self.recorded_ports()
        return ports is not None and len(ports) == self.brokers and all(
            (self.node_home(p.node_id) / "data" / "meta.properties").exists() for p in ports
        )

    def _choose_ports(self) -> None:
        """Fix a free client and controller port per node (before formatting) in ports.json."""
        recorded = self.recorded_ports()
        if recorded is not None and len(recorded) != self.brokers:
            raise SetupError(f"the cluster in {self.home} was made with {len(recorded)} nodes; "
                             f"to make one of {self.brokers}: 'ecombus local up --brokers "
                             f"{self.brokers} --fresh' (deletes its data)")
        for node_ports in recorded or []:  # formatted only in part: start over
            shutil.rmtree(self.node_home(node_ports.node_id) / "data", ignore_errors=True)
        taken: set[int] = set()

        def pick(preferred: int | None) -> int:
            if preferred is not None and preferred not in taken and port_is_free(preferred):
                taken.add(preferred)
                return preferred
            for _ in range(100):
                port = free_port()
                if port not in taken:
                    taken.add(port)
                    return port
            raise SetupError("could not find free ports on 127.0.0.1; free some and retry")

        clients = [pick(self.port + i) for i in range(self.brokers)]
        first = self.controller_port
        controllers = [pick(None if first is None else first + i) for i in range(self.brokers)]
        nodes = [NodePorts(i + 1, clients[i], controllers[i]) for i in range(self.brokers)]
        if clients[0] != self.port:
            self._say(f"port {self.port} is taken: node 1 listens on {clients[0]}")
        self.home.mkdir(parents=True, exist_ok=True)
        self.ports_file.write_text(
            json.dumps({"nodes": [vars(n) for n in nodes]}, indent=2), encoding="utf-8"
        )
        self._cluster_id = None

    def _new_cluster_id(self) -> str:
        """One random cluster id shared by every node formatted in this process (Kafka's form:
        16 random bytes, URL-safe base64 without padding, not starting with '-')."""
        while self._cluster_id is None:
            candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
            if not candidate.startswith("-"):
                self._cluster_id = candidate
        return self._cluster_id

    def kill(self, node_id: int, sig: signal.Signals = signal.SIGKILL) -> int:
        """Send ``sig`` to one running node's process group (a crash, a pause); its pid.

        Raises:
            SetupError: that node is not running.
        """
        state = self.node(node_id).state()
        if state is None:
            raise SetupError(f"node {node_id} of the cluster in {self.home} is not running")
        _signal_group(state.pid, sig)
        return state.pid

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """SIGTERM every running node at once, SIGKILL those left after ``timeout``.

        Returns False if no node was running. No JVM of the cluster runs when it returns.
        """
        running = [(node, state) for node in self.nodes()
                   if (state := node.state()) is not None]
        for node in self.nodes():
            node.state_file.unlink(missing_ok=True)
        if not running:
            return False
        self._say(f"stopping the Kafka cluster (pids {', '.join(str(s.pid) for _, s in running)})")
        for _node, state in running:
            _signal_group(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(n._alive(s.pid) for n, s in running):
            time.sleep(0.2)
        for node, state in running:
            if node._alive(state.pid):
                self._say(f"node {node.node_id} did not stop within {timeout:.0f}s; killing it")
                _signal_group(state.pid, signal.SIGKILL)
        for node, state in running:
            kill_deadline = time.monotonic() + 10.0
            while node._alive(state.pid) and time.monotonic() < kill_deadline:
                time.sleep(0.1)
            if node._proc is not None:
                node._proc.wait(timeout=10.0)
                node._proc = None
        return True

