"""Run a single-node Apache Kafka (combined broker + controller, KRaft) from the cached jars.

The broker runs as its own process group, detached from whoever started it, so ``ecombus local
up`` can return while Kafka keeps running. Everything it needs lives in one *home* folder::

    <home>/broker.json        pid, ports, paths of the running broker (removed on stop)
    <home>/ports.json         ports fixed at format time (the controller port is in the storage)
    <home>/server.properties  generated on every start
    <home>/data/              the log dirs; survive stop/start unless ``fresh=True``
    <home>/logs/server.log    the broker's log4j2 log; broker.out holds the JVM's own output

Ready means the client port accepts connections: with a fixed port Kafka opens it only once the
broker is serving.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from bus.errors import SetupError
from bus.tools.local.jars import JAVA_ADVICE, KAFKA_VERSION, ensure_kafka_jars, require_tool

DEFAULT_PORT = 9092
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id={node_id}
{quorum}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data_dir}
num.partitions=3
default.replication.factor={replication}
min.insync.replicas={min_isr}
unclean.leader.election.enable=false
auto.create.topics.enable=false
offsets.topic.replication.factor={replication}
offsets.topic.num.partitions=10
transaction.state.log.replication.factor={replication}
transaction.state.log.min.isr={min_isr}
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor={replication}
share.coordinator.state.topic.min.isr={min_isr}
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=1048577
"""
"""``server.properties`` of a node that is broker and controller at once: the single node
(``{quorum}`` = its own one-voter bootstrap, replication 1) and each node of the local cluster
(``bus.tools.local.cluster``: static voters, replication 3, min ISR 2) fill it in."""

_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = FILE
logger.state.name = state.change.logger
logger.state.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
"""


@dataclass(frozen=True)
class BrokerState:
    """What ``broker.json`` records about a started broker."""

    pid: int
    port: int
    controller_port: int
    data_dir: str
    log_file: str
    started_at: float
    kafka_version: str

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if a server could listen on host:port now (SO_REUSEADDR, as the JVM does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port the OS considers free right now (for tests that need their own broker)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def process_alive(pid: int, marker: str | None = None) -> bool:
    """True if pid runs and is not a zombie; with ``marker``, its command line must contain it."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        if marker:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                return marker.encode() in cmdline.read()
    except (OSError, IndexError):
        return False
    return True


def tail(path: Path, lines: int = 25) -> str:
    """The last lines of a text file, or a note that it does not exist."""
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


class LocalBroker:
    """One local Kafka broker living in ``home``.

    Args:
        home: the folder holding state, data and logs.
        port: the client (PLAINTEXT) port.
        controller_port: the KRaft controller port, fixed when the storage is formatted and
            kept afterwards; by default ``port + 1``, or any free port when that one is taken.
        heap: the JVM's maximum heap.
        progress: called with human-readable progress lines.
    """

    JAVA_MAIN = "kafka.Kafka"

    def __init__(
        self,
        home: Path,
        port: int = DEFAULT_PORT,
        controller_port: int | None = None,
        heap: str = "512m",
        kafka_version: str = KAFKA_VERSION,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.home = Path(home)
        self.port = port
        self.controller_port = controller_port
        self.heap = heap
        self.kafka_version = kafka_version
        self._say = progress or (lambda _line: None)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def state_file(self) -> Path:
        return self.home / "broker.json"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "server.log"

    def state(self) -> BrokerState | None:
        """The recorded state of a broker that is still running, else None."""
        try:
            state = BrokerState(**json.loads(self.state_file.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        if not self._alive(state.pid):
            return None
        return state

    def _alive(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None
        return process_alive(pid, self.JAVA_MAIN)

    def start(self, fresh: bool = False, timeout: float = START_TIMEOUT_S) -> BrokerState:
        """Start the broker (or return the running one) and wait until it serves clients.

        Raises:
            SetupError: Java/Maven missing, a port in use, or the JVM died or never became
                ready within ``timeout`` (the message holds the tail of its log).
        """
        state, started = self.launch(fresh)
        if started:
            self._wait_ready(state, timeout)
        return state

    def launch(self, fresh: bool = False) -> tuple[BrokerState, bool]:
        """Start the JVM without waiting until it is ready (or find the running one).

        Returns the state and True if a JVM was started now (False: it was already running).
        ``wait_ready`` waits for it; the nodes of a cluster are launched together this way,
        since none is ready before a majority of the controller quorum runs.

        Raises:
            SetupError: Java/Maven missing or a port in use.
        """
        running = self.state()
        if running:
            if fresh:
                self.stop()
            else:
                return running, False
        java = require_tool("java", JAVA_ADVICE)
        if fresh and self.data_dir.exists():
            shutil.rmtree(self.data_dir)
            (self.home / "ports.json").unlink(missing_ok=True)
        controller_port = self._controller_port()
        for what, port in (("client", self.port), ("controller", controller_port)):
            if not port_is_free(port):
                raise SetupError(
                    f"{what} port {port} is already in use on 127.0.0.1 (another Kafka?). "
                    "Stop it, or pick other ports: 'ecombus local up --port N' "
                    "(the controller port is fixed when the data dir is formatted: "
                    "add --fresh --controller-port N to change it)."
                )
        libs = ensure_kafka_jars(self.kafka_version, progress=self._say)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        props = self.home / "server.properties"
        props.write_text(
            self._properties(controller_port), encoding="utf-8",
        )
        log4j = self.home / "log4j2.properties"
        log4j.write_text(_LOG4J2.format(log_file=self.log_file), encoding="utf-8")
        classpath = f"{libs}/*"
        if not (self.data_dir / "meta.properties").exists():
            self._format(java, classpath, props)
        cmd = [
            java, "-Xms256m", f"-Xmx{self.heap}", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
            "-cp", classpath, self.JAVA_MAIN, str(props),
        ]
        out = open(self.home / "broker.out", "ab")  # noqa: SIM115 - handed to the child
        try:
            self._proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=self.home,
            )
        finally:
            out.close()
        state = BrokerState(
            pid=self._proc.pid, port=self.port, controller_port=controller_port,
            data_dir=str(self.data_dir), log_file=str(self.log_file), started_at=time.time(),
            kafka_version=self.kafka_version,
        )
        self.state_file.write_text(json.dumps(asdict(state), indent=2), encoding="utf-8")
        self._say(f"starting Kafka {self.kafka_version} on 127.0.0.1:{self.port} (pid {state.pid})")
        return state, True

    def _properties(self, controller_port: int) -> str:
        """The text of ``server.properties`` (a single node: broker and its own controller)."""
        return SERVER_PROPERTIES.format(
            node_id=1, quorum=f"controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}",
            port=self.port, controller_port=controller_port, data_dir=self.data_dir,
            replication=1, min_isr=1,
        )

    def _format_args(self) -> list[str]:
        """What ``StorageTool format`` gets besides ``-t`` and ``-c`` (a one-voter quorum)."""
        return ["--standalone"]

    def _cluster_id(self, tool: list[str]) -> str:
        """The KRaft cluster id written into new storage (a random one)."""
        return subprocess.run(
            [*tool, "random-uuid"], capture_output=True, text=True, check=True
        ).stdout.strip()

    def _controller_port(self) -> int:
        ports_file = self.home / "ports.json"
        if (self.data_dir / "meta.properties").exists() and ports_file.exists():
            recorded = int(json.loads(ports_file.read_text(encoding="utf-8"))["controller_port"])
            if self.controller_port and self.controller_port != recorded:
                self._say(f"the data dir was formatted with controller port {recorded}: keeping it "
                          f"(--fresh deletes the data and takes {self.controller_port})")
            return recorded
        port = self.controller_port or self.port + 1
        if not self.controller_port and not port_is_free(port):
            port = free_port()
            self._say(f"port {self.port + 1} is taken: the KRaft controller listens on {port}")
        self.home.mkdir(parents=True, exist_ok=True)
        ports_file.write_text(json.dumps({"controller_port": port}), encoding="utf-8")
        return port

    def _format(self, java: str, classpath: str, props: Path) -> None:
        tool = [java, "-Xmx256m", "-cp", classpath, "kafka.tools.StorageTool"]
        cluster_id = self._cluster_id(tool)
        done = subprocess.run(
            [*tool, "format", *self._format_args(), "-t", cluster_id, "-c", str(props)],
            capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise SetupError(f"formatting Kafka storage failed:\n{done.stdout}\n{done.stderr}")
        self._say(f"formatted KRaft storage in {self.data_dir} (cluster {cluster_id})")

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> BrokerState:
        """Wait until the launched broker serves clients; its state.

        Raises:
            SetupError: no broker launched, or it died or was not ready within ``timeout``
                (then it is stopped; the message holds the tail of its log).
        """
        state = self.state()
        if state is None:
            raise SetupError(f"no Kafka runs in {self.home}: start it first ('ecombus local up')")
        self._wait_ready(state, timeout)
        return state

    def _wait_ready(self, state: BrokerState, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._alive(state.pid):
                self.state_file.unlink(missing_ok=True)
                raise SetupError(
                    f"the Kafka JVM exited during start-up. Last lines of {self.log_file}:\n"
                    f"{tail(self.log_file)}\n--- {self.home / 'broker.out'}:\n"
                    f"{tail(self.home / 'broker.out', 10)}"
                )
            if _accepts(state.port):
                self._say(f"Kafka ready at {state.bootstrap_servers}")
                return
            time.sleep(0.2)
        self.stop()
        raise SetupError(
            f"Kafka did not become ready within {timeout:.0f}s; last lines of {self.log_file}:\n"
            f"{tail(self.log_file)}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Stop the broker: SIGTERM, then SIGKILL after ``timeout``. False if none was running."""
        state = self.state()
        self.state_file.unlink(missing_ok=True)
        if state is None:
            return False
        self._say(f"stopping Kafka (pid {state.pid})")
        _signal_group(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._alive(state.pid):
            time.sleep(0.2)
        if self._alive(state.pid):
            self._say(f"Kafka did not stop within {timeout:.0f}s; killing it")
            _signal_group(state.pid, signal.SIGKILL)
            while self._alive(state.pid):
                time.sleep(0.1)
        if self._proc is not None:
            self._proc.wait()
            self._proc = None
        return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)
