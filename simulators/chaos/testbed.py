"""The bus a chaos run drives: Kafka, the registry, the simulators and N replicas of each service.

:class:`Testbed` builds everything from :data:`bus.tools.local.stack.STACK` (the same commands
and settings as ``ecombus up``) in the run's own folder, on free ports of 127.0.0.1 below the
ephemeral range (a restarted process binds its port again: :mod:`simulators.chaos.ports`):

* the brokers (:class:`~simulators.chaos.brokers.Brokers`), the schema registry, the topics of
  ``deploy/topics.yaml`` (replication factor 3 and ``min.insync.replicas=2`` on a cluster);
* the simulators, once each; the ERP's folders are the run's;
* each service's replicas: ``single_owner`` services (``bus/tools/deploy/components.py``) run
  exactly one, the others ``replicas``; each has its own ``ECOMBUS_INSTANCE_ID``
  (``<service>-<n>``, also its Kafka ``client.id``, so consumer groups tell its members apart),
  admin port, HTTP port and state folder, kept across restarts;
* a :class:`~simulators.chaos.balancer.Balancer` per service with webhooks, where the
  simulators send them (as to a Kubernetes Service);
* the ERP's stock file, once the router runs: every SKU at both locations, some scarce (less
  than the run will ask for), so the run sells out and oversold would show; one SKU
  (:data:`LATE`) comes in a second file a third into the run, so orders wait for a level too.

A ``mutation`` (:mod:`simulators.chaos.mutations`) starts the services it breaks through the
mutant launcher instead of ``ecombus run``.
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka.admin import AdminClient

from bus import topics as topics_lib
from bus.errors import SetupError
from bus.runtime.table import read_to_end
from bus.tools.deploy.components import COMPONENTS
from bus.tools.local.registry import RegistryProcess
from bus.tools.local.stack import STACK, ProcessSpec, Stack
from simulators.chaos.balancer import Balancer
from simulators.chaos.brokers import Brokers
from simulators.chaos.fleet import Fleet, Replica
from simulators.chaos.mutations import MUTATIONS
from simulators.chaos.ports import steady_port
from simulators.erp import drop_stock_file
from simulators.storefront.state import CATALOG, LOCATIONS

SIMULATORS = ("storefront-sim", "carrier-sim", "crm-sim", "erp-sim")
SERVICES = ("order-capture", "shipping-tracker", "router", "inventory-sync", "crm-updater")
"""The services a run drives by default: every service of the stack that holds the data the
invariants are about (the console only reads what they write)."""
SCARCE = ("MATCHA-40G", "BOWL-CHAWAN", "WHISK-BAMBOO")
"""SKUs stocked below what a run will ask for, so they sell out mid-run."""
LATE = "YUZU-SOAP"
"""The SKU whose first stock level comes a third into the run: its orders wait for it (inventory-sync
parks them, then decides them out of stock after ``ECOMBUS_INVENTORY_PARK_SECONDS``, or reserves
them once the level comes), as after a cold start."""
RUN_ENV = {
    # a Shopify Plus store with a raised limit: the bucket is not what a run measures
    "ECOMBUS_SIM_STOREFRONT_BUCKET_CAPACITY": "80", "ECOMBUS_SIM_STOREFRONT_LEAK_PER_SECOND": "20",
    "ECOMBUS_INVENTORY_BUCKET_CAPACITY": "80", "ECOMBUS_INVENTORY_LEAK_PER_SECOND": "20",
    # reconciliation lists a short window often, as a busy shop would be reconciled
    "ECOMBUS_ORDER_CAPTURE_RECONCILE_INTERVAL_SECONDS": "20",
    "ECOMBUS_ORDER_CAPTURE_RECONCILE_OVERLAP_SECONDS": "30",
}
"""Settings every process of a run gets on top of the stack's."""


def replica_counts(services: Sequence[str], replicas: int) -> dict[str, int]:
    """How many replicas each service runs: one for a single owner, else ``replicas``."""
    single = {c.name for c in COMPONENTS if c.single_owner}
    return {s: 1 if s in single else replicas for s in services}


class Testbed:
    """Everything a run drives, in ``home``.

    Args:
        home: the run's folder (logs, data, ERP folders, state per replica).
        brokers: Kafka nodes (1, or 3 and more).
        replicas: service → how many replicas (see :func:`replica_counts`).
        mutation: a deliberate bug to run the services it touches with (None: the real code).
        say: where progress lines go.
        settings: environment for every process on top of :data:`RUN_ENV` (``--set KEY=VALUE``).
    """

    def __init__(self, home: Path, brokers: int, replicas: Mapping[str, int], mutation: str | None = None,
                 say: Callable[[str], None] = print, settings: Mapping[str, str] | None = None) -> None:
        self.home, self.replicas, self.mutation, self.say = home, dict(replicas), mutation, say
        self.settings = {**RUN_ENV, **(settings or {})}
        if mutation is not None and mutation not in MUTATIONS:
            raise SetupError(f"unknown mutation {mutation!r} (one of {', '.join(sorted(MUTATIONS))})")
        self.brokers = Brokers(home, brokers, progress=say)
        self.fleet = Fleet(home)
        self.registry: RegistryProcess | None = None
        self.balancers: list[Balancer] = []
        self.stock_dir, self.orders_dir = home / "erp" / "stock", home / "erp" / "orders"
        self.bootstrap = self.registry_url = ""
        self.ports: dict[str, int] = {}
        self.stock: dict[tuple[str, str], int] = {}
        """(sku, location) → the units the ERP's stock files say are available."""
        self._first: list[str] = []
        self._late: list[str] = []

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def simulators(self) -> dict[str, str]:
        """Storm target → simulator URL."""
        return {"storefront": self.url("storefront-sim"), "crm": self.url("crm-sim"),
                "erp": self.url("erp-sim")}

    def start(self, demand: Mapping[str, float], timeout: float = 180.0) -> None:
        """Start everything and drop the stock file; ``demand`` is the units per SKU the run will ask for.

        Raises:
            SetupError: something did not start (the message says what, with its log's tail).
        """
        self.say(f"starting {self.brokers.count} Kafka node(s), the registry and the topics")
        self.bootstrap = self.brokers.start()
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self.registry = RegistryProcess(self.bootstrap, "_schemas", port=steady_port(),
                                        log_file=self.home / "logs" / "registry.log")
        self.registry_url = self.registry.start(timeout)
        topics_lib.apply(AdminClient({"bootstrap.servers": self.bootstrap}), topics_lib.load_topics())
        specs = {s.name: s for s in STACK}
        self.ports = {name: steady_port() for name in (*SIMULATORS, *self.replicas)}
        sims = [self._add(specs[name], 0) for name in SIMULATORS]
        for replica in sims:
            self.fleet.start(replica)
        self.fleet.wait_ready(sims, timeout)
        services = [self._add(specs[s], n) for s in self.replicas for n in range(1, self.replicas[s] + 1)]
        self.say(f"starting {len(services)} service replicas: " + ", ".join(r.name for r in services)
                 + (f" (mutation: {self.mutation})" if self.mutation else ""))
        for replica in services:
            self.fleet.start(replica)
        self.fleet.wait_ready(services, timeout)
        for name in self.replicas:
            if specs[name].port is not None:  # it takes webhooks: the simulators call its balancer
                self.balancers.append(Balancer(name, self.ports[name], self._backends(name)).start())
        self._drop_stock(demand, timeout)

    def _backends(self, service: str) -> Callable[[], list[int]]:
        return lambda: self.fleet.ports_up(service)

    def _add(self, spec: ProcessSpec, number: int) -> Replica:
        """The replica ``number`` of ``spec`` (0: a simulator), with its own ports and settings."""
        own: dict[str, int] = {}
        admin: dict[str, int] = {}
        if number:
            own = {spec.name: steady_port()} if spec.port is not None else {}
            admin = {spec.name: steady_port()}
        if spec.name == "erp-sim":
            spec = dataclasses.replace(spec, argv=(sys.executable, "-m", "simulators.erp", "--port",
                                                   "{port[erp-sim]}", "--stock-dir", str(self.stock_dir),
                                                   "--orders-dir", str(self.orders_dir)))
        stack = Stack(STACK, ports={**self.ports, **own}, admin_ports=admin, extra_env=self.settings,
                      home=self.home)
        argv, env = stack.command(spec, self.bootstrap, self.registry_url)
        if number:
            env |= self._replica_env(spec.name, number)
            mutation = MUTATIONS.get(self.mutation or "")
            if mutation is not None and spec.name in mutation.services:
                argv = [sys.executable, "-m", "simulators.chaos.mutant", mutation.name, *argv[3:]]
        replica = Replica(spec.name, number, argv, env, port=(own or self.ports).get(spec.name),
                          admin_port=admin.get(spec.name))
        return self.fleet.add(replica)

    def _replica_env(self, service: str, number: int) -> dict[str, str]:
        state = self.home / "state" / f"{service}-{number}"
        state.mkdir(parents=True, exist_ok=True)
        folder, name = str(state), f"{service}-{number}"
        extra = {**json.loads(self.settings.get("KAFKA_EXTRA_CONFIG", "{}")), "client.id": name}
        return {"ECOMBUS_INSTANCE_ID": name, "KAFKA_EXTRA_CONFIG": json.dumps(extra),
                "ECOMBUS_ORDER_CAPTURE_STATE_DIR": folder,
                "ECOMBUS_SHIPPING_TRACKER_STATE_DIR": folder, "ECOMBUS_ROUTER_STATE_DIR": folder,
                "ERP_STOCK_DIR": str(self.stock_dir), "ERP_ORDERS_DIR": str(self.orders_dir)}

    def _drop_stock(self, demand: Mapping[str, float], timeout: float) -> None:
        """The ERP's stock file: scarce SKUs at half of what the run asks, others at one and a half;
        :data:`LATE` is left out of it (:meth:`drop_late_stock` brings it)."""
        rng = random.Random(len(demand))
        as_of = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for sku in sorted(CATALOG):
            total = max(4, round(demand.get(sku, 0) * (0.5 if sku in SCARCE else 1.5)))
            first = round(total * rng.uniform(0.3, 0.7))
            for location, units in zip(sorted(LOCATIONS), (first, total - first), strict=True):
                self.stock[(sku, location)] = units
                (self._late if sku == LATE else self._first).append(f"{sku},{location},{units},0,{as_of}")
        self._drop("chaos_stock.csv", self._first)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            levels = read_to_end({"bootstrap.servers": self.bootstrap}, "inventory.levels.v1", 30)
            if sum(1 for _ in levels) >= len(self._first):
                self.say(f"stock file published: {len(self._first)} levels, {LATE} to come; "
                         f"scarce: {', '.join(SCARCE)}")
                return
            time.sleep(1)
        raise SetupError(f"the stock file in {self.stock_dir} was not published within {timeout:.0f} s")

    def drop_late_stock(self) -> None:
        """The ERP's first stock file of :data:`LATE` (its orders waited for it until now)."""
        self._drop("chaos_stock_late.csv", self._late)

    def _drop(self, name: str, rows: list[str]) -> None:
        text = "\ufeff" + "\n".join(["sku,location,on_hand,reserved,as_of", *rows]) + "\n"
        drop_stock_file(self.stock_dir, text.encode(), name)

    def stop(self) -> None:
        """Stop everything (balancers, processes, registry, brokers); safe after a failed start."""
        for balancer in self.balancers:
            balancer.stop()
        self.fleet.stop_all()
        if self.registry is not None:
            self.registry.stop()
        self.brokers.stop()
