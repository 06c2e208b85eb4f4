"""Set-up of the local three-node cluster: ports fixed before formatting, errors that say what to
do, all before any JVM starts."""

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from bus.errors import SetupError
from bus.tools.cli.local import local_group
from bus.tools.local.broker import free_port, port_is_free
from bus.tools.local.cluster import LocalCluster


def test_fewer_than_three_brokers_is_refused_with_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match=r"at least 3 brokers.*leave out --brokers"):
        LocalCluster(tmp_path, brokers=2)


def test_every_port_is_chosen_free_distinct_and_recorded_before_formatting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no java: stops right after the ports
    port = free_port()
    cluster = LocalCluster(tmp_path, port=port)
    with pytest.raises(SetupError, match="'java' not found"):
        cluster.start()
    nodes = json.loads((tmp_path / "ports.json").read_text())["nodes"]
    assert [n["node_id"] for n in nodes] == [1, 2, 3]
    ports = [n["port"] for n in nodes] + [n["controller_port"] for n in nodes]
    assert nodes[0]["port"] == port
    assert len(set(ports)) == 6 and 0 not in ports
    voters = ",".join(f"{n['node_id']}@127.0.0.1:{n['controller_port']}" for n in nodes)
    properties = cluster.node(2)._properties(nodes[1]["controller_port"])
    assert f"controller.quorum.voters={voters}\n" in properties
    for setting in ("default.replication.factor=3", "min.insync.replicas=2",
                    "offsets.topic.replication.factor=3", "transaction.state.log.replication.factor=3",
                    "transaction.state.log.min.isr=2", "node.id=2"):
        assert f"\n{setting}\n" in properties


def test_controller_ports_can_be_chosen_out_of_the_ephemeral_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the chaos suite's restarted nodes found an ephemeral port taken by an outgoing connection
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    base = next(b for b in range(21000, 32000, 100) if all(port_is_free(b + i) for i in range(13)))
    cluster = LocalCluster(tmp_path, port=base, controller_port=base + 10)
    with pytest.raises(SetupError, match="'java' not found"):
        cluster.start()
    nodes = json.loads((tmp_path / "ports.json").read_text())["nodes"]
    assert [(n["port"], n["controller_port"]) for n in nodes] == [(base + i, base + 10 + i) for i in range(3)]


def test_a_recorded_port_in_use_names_the_node_and_fresh(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        nodes = [{"node_id": i, "port": taken if i == 2 else free_port(), "controller_port": free_port()}
                 for i in (1, 2, 3)]
        (tmp_path / "ports.json").write_text(json.dumps({"nodes": nodes}))
        for i in (1, 2, 3):
            (tmp_path / f"node-{i}" / "data").mkdir(parents=True)
            (tmp_path / f"node-{i}" / "data" / "meta.properties").write_text("formatted")
        with pytest.raises(SetupError, match=rf"client port {taken} of node 2 is already in use.*--fresh"):
            LocalCluster(tmp_path).start()
    assert json.loads((tmp_path / "ports.json").read_text())["nodes"] == nodes  # kept, not re-picked


def test_cli_refuses_a_controller_port_for_a_cluster() -> None:
    result = CliRunner().invoke(local_group, ["up", "--brokers", "3", "--controller-port", "1234"])
    assert result.exit_code == 2
    assert "--controller-port is for a single node" in result.output
