"""The whole demo bus for the console's browser tests: its own broker, registry, every service and
simulator of the local stack (the console among them) on free ports, and the demo's scenario pushed
through it, as ``make demo`` does.

It starts its own broker from the jars even when ``KAFKA_BOOTSTRAP_SERVERS`` names a cluster: the
scenario is the same every run, so on kept topics every order would (rightly) be deduplicated and
there would be no journey to look at.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from confluent_kafka.admin import AdminClient

from bus import topics as topics_lib
from bus.tools.cli.stack import Infrastructure
from bus.tools.local.broker import LocalBroker, free_port
from bus.tools.local.registry import RegistryProcess
from bus.tools.local.stack import DEMO_CONSOLE_TOKENS, STACK, ProcessSpec, Stack
from simulators import scenario
from simulators.demo import _settled
from simulators.erp import drop_stock_file

SETTLE_SECONDS = 150.0


@dataclass(frozen=True)
class DemoBus:
    """Where the running demo bus answers, and what its scenario did."""

    bootstrap: str
    registry: str
    console: str
    store: str
    erp: str
    crm: str
    story: scenario.Scenario
    home: Path
    operator_token: str = DEMO_CONSOLE_TOKENS["operator"]
    viewer_token: str = DEMO_CONSOLE_TOKENS["viewer"]


def _relocated(spec: ProcessSpec, home: Path) -> ProcessSpec:
    """``spec`` with the ERP folders and the router's state under ``home`` instead of ``var/``."""
    def move(text: str) -> str:
        return text.replace("var/erp/", f"{home}/erp/")

    env = {k: move(v) for k, v in spec.env.items()}
    if spec.name == "router":
        env["ECOMBUS_ROUTER_STATE_DIR"] = str(home / "router")
    return dataclasses.replace(spec, argv=tuple(move(a) for a in spec.argv), env=env)


@contextmanager
def demo_bus(home: Path) -> Iterator[DemoBus]:
    """Start everything, push the scenario, wait until it settled; stop everything afterwards."""
    broker = LocalBroker(home / "kafka", port=free_port(), controller_port=free_port(), progress=print)
    state = broker.start()
    registry = RegistryProcess(state.bootstrap_servers, "_schemas", log_file=home / "registry.log")
    stack: Stack | None = None
    try:
        registry_url = registry.start()
        admin = AdminClient({"bootstrap.servers": state.bootstrap_servers})
        topics_lib.apply(admin, topics_lib.load_topics())
        specs = [_relocated(s, home) for s in STACK]
        stack = Stack(specs, ports={s.name: free_port() for s in specs if s.port},
                      admin_ports={s.name: free_port() for s in specs if s.admin_port}, home=home)
        stack.up(state.bootstrap_servers, registry_url, progress=print, timeout=180)
        url = {name: f"http://127.0.0.1:{port}" for name, port in stack.ports.items()}
        story = scenario.push(url["storefront-sim"], url["carrier-sim"], print)
        as_of = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        drop_stock_file(home / "erp" / "stock", f"sku,location,on_hand,reserved,as_of\n"
                        f"WHISK-BAMBOO,LA-1,24,0,{as_of}\n".encode(), "erp_stock_restock.csv")
        infra = Infrastructure(state.bootstrap_servers, registry_url, "")
        missing = _settled(infra, url["storefront-sim"], story)
        deadline = time.monotonic() + SETTLE_SECONDS
        while (gaps := missing()) and time.monotonic() < deadline:
            time.sleep(2)
        assert not gaps, f"the demo scenario did not settle in {SETTLE_SECONDS:.0f} s: {gaps}"
        yield DemoBus(state.bootstrap_servers, registry_url, url["console"], url["storefront-sim"],
                      url["erp-sim"], url["crm-sim"], story, home)
    finally:
        if stack is not None:
            stack.down()
        registry.stop()
        broker.stop()


def console_ready(bus: DemoBus, timeout: float = 120.0) -> bool:
    """Whether the console's index caught up with the topics (its ``/readyz``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ready = httpx.get(f"{bus.console}/", headers={"authorization": f"Bearer {bus.viewer_token}"},
                              timeout=5)
            if ready.status_code == 200 and 'data-testid="rebuilding"' not in ready.text:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(1)
    return False
