"""Every test in this folder talks to a real broker and carries the ``integration`` marker.

``kafka_cluster`` gives a test its own three-node cluster (tests/integration/cluster.py).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.tools.local.cluster import LocalCluster
from tests.integration.cluster import three_node_cluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def kafka_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A running three-node KRaft cluster (replication factor 3, min ISR 2) in the test's tmp
    dir on free ports; stopped after the test."""
    with three_node_cluster(tmp_path / "cluster") as cluster:
        yield cluster
