"""A three-node local Kafka cluster for the integration tests that need replication.

Ask for the ``kafka_cluster`` fixture (defined in ``tests/integration/conftest.py``): it starts a
:class:`~bus.tools.local.cluster.LocalCluster` of three combined broker+controller nodes in the
test's tmp dir on free ports, and stops it afterwards (SIGTERM, SIGKILL after the timeout). The
session's single broker (``kafka_bootstrap``) is untouched.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bus.tools.local.broker import free_port
from bus.tools.local.cluster import LocalCluster

START_TIMEOUT_S = 120.0


@contextmanager
def three_node_cluster(home: Path) -> Iterator[LocalCluster]:
    """A started three-node cluster living in ``home``; stopped when the block ends."""
    cluster = LocalCluster(home, brokers=3, port=free_port(), progress=print)
    try:
        cluster.start(timeout=START_TIMEOUT_S)
        yield cluster
    finally:
        gc.collect()  # clients the test dropped go before the brokers (each would log refusals)
        cluster.stop()


def java_pids_using(folder: Path) -> list[int]:
    """Pids of the java processes whose command line names ``folder`` (a cluster's home)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"java" in cmdline and str(folder).encode() in cmdline:
            pids.append(int(proc.name))
    return pids
