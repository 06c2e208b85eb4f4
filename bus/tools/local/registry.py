"""Run ``ecombus registry serve`` as a child process, for tests and tools that need a real one.

Usage::

    with RegistryProcess("127.0.0.1:9092", topic="_schemas_test") as registry:
        client = SchemaRegistryClient({"url": registry.url})
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from bus.errors import SetupError
from bus.tools.local.broker import free_port, tail


class RegistryProcess:
    """One registry process on ``127.0.0.1:port`` storing schemas in ``topic``.

    Args:
        bootstrap_servers: the Kafka cluster.
        topic: the registry's log topic; processes sharing it are replicas of one registry.
        port: the HTTP port (a free one by default).
        log_file: where the process writes its output (a temp file by default).
    """

    def __init__(self, bootstrap_servers: str, topic: str, port: int | None = None,
                 log_file: Path | None = None) -> None:
        self.bootstrap_servers, self.topic = bootstrap_servers, topic
        self.port = port or free_port()
        self.log_file = log_file or Path(tempfile.mkstemp(prefix="ecombus-registry-", suffix=".log")[1])
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> str:
        """Start the process and wait until ``/readyz`` answers 200; returns the URL.

        Raises:
            SetupError: the process exited or was not ready in time (the message has its log).
        """
        argv = [sys.executable, "-m", "bus.tools.cli", "registry", "serve", "--port", str(self.port),
                "--bootstrap-servers", self.bootstrap_servers, "--topic", self.topic]
        with open(self.log_file, "ab") as out:
            self._proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise SetupError(f"the registry exited with code {self._proc.returncode}:\n"
                                 f"{tail(self.log_file)}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SetupError(f"the registry was not ready within {timeout:.0f}s:\n{tail(self.log_file)}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``. Safe to call twice."""
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def __enter__(self) -> RegistryProcess:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
