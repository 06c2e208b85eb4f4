"""The local bus as one declared list of processes: services and simulators beside the broker.

:data:`STACK` is the one place that says what ``ecombus up`` runs. A new service joins with one
:class:`ProcessSpec`: its name, its command, its environment, the port that opens when it is
ready and its admin port (``/readyz``). Values may name other processes' addresses, resolved
when the stack starts, so ports can be moved (tests run a whole stack on free ports)::

    ProcessSpec("crm-updater", ecombus("run", "crm-updater"), admin_port=9103,
                env={"ECOMBUS_ADMIN_PORT": "{admin_port[crm-updater]}",
                     "ECOMBUS_CRM_UPDATER_API_URL": "{url[crm-sim]}"})

Placeholders: ``{port[<name>]}``, ``{admin_port[<name>]}``, ``{url[<name>]}``
(``http://127.0.0.1:<port>``), ``{bootstrap}`` and ``{registry}``. Processes start in list
order (simulators first), each with its log in ``<state>/logs/<name>.log``
(:mod:`bus.tools.local.processes`), and stop in reverse order.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bus.errors import ConfigError
from bus.tools.local import processes


def python(*args: str) -> tuple[str, ...]:
    """A command run with this interpreter (the project's venv)."""
    return (sys.executable, *args)


def ecombus(*args: str) -> tuple[str, ...]:
    """An ``ecombus`` command, e.g. ``ecombus("run", "order-capture")``."""
    return python("-m", "bus.tools.cli", *args)


@dataclass(frozen=True)
class ProcessSpec:
    """One process of the local stack.

    Attributes:
        name: its name (log file, ``ecombus ps``); services use their service name.
        argv: the command; may hold placeholders.
        env: environment added to the caller's; may hold placeholders.
        port: the port it serves on; it counts as started once the port accepts connections.
        admin_port: where ``/readyz`` and ``/metrics`` answer (None: ``/readyz`` on ``port``).
        listens: what to tell people about it, e.g. ``webhooks at {url[order-capture]}/webhooks/...``.
    """

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    port: int | None = None
    admin_port: int | None = None
    listens: str = ""


DEMO_SECRETS = {
    "SHOPIFY_WEBHOOK_SECRET": "demo-shopify-secret",
    "WOOCOMMERCE_WEBHOOK_SECRET": "demo-woocommerce-secret",
    "BIGCOMMERCE_WEBHOOK_SECRET": "demo-bigcommerce-secret",
    "EASYPOST_WEBHOOK_SECRET": "demo-easypost-secret",
    "AFTERSHIP_WEBHOOK_SECRET": "demo-aftership-secret",
}
"""The webhook secrets the local stack shares between the simulators and the services."""
SHOP = "hanako-tea.myshopify.com"
DEMO_SHOPS = json.dumps([{"platform": "shopify", "domain": SHOP},
                         {"platform": "woocommerce", "domain": "shop.example.de"},
                         {"platform": "bigcommerce", "domain": "1025646"}])
"""The shops order-capture accepts in the local stack: the storefront simulator's three stores."""
DEMO_CONSOLE_TOKENS = {"operator": "demo-operator-token-1", "viewer": "demo-viewer-token-1"}
"""Who may sign in to the local stack's console, by role (tokens of 16+ characters; local use only)."""
_CONSOLE_ACCOUNTS = json.dumps([{"user": f"demo-{role}", "role": role, "token": token}
                                for role, token in DEMO_CONSOLE_TOKENS.items()])

STACK: tuple[ProcessSpec, ...] = (
    ProcessSpec(
        "storefront-sim",
        python("-m", "simulators", "storefront", "--port", "{port[storefront-sim]}"),
        env={"ECOMBUS_SIM_STOREFRONT_SHOP_DOMAIN": SHOP,
             "ECOMBUS_SIM_STOREFRONT_WEBHOOK_URL_SHOPIFY": "{url[order-capture]}/webhooks/shopify",
             "ECOMBUS_SIM_STOREFRONT_WEBHOOK_URL_WOOCOMMERCE": "{url[order-capture]}/webhooks/woocommerce",
             "ECOMBUS_SIM_STOREFRONT_WEBHOOK_URL_BIGCOMMERCE": "{url[order-capture]}/webhooks/bigcommerce",
             "ECOMBUS_SIM_STOREFRONT_SECRET_SHOPIFY": DEMO_SECRETS["SHOPIFY_WEBHOOK_SECRET"],
             "ECOMBUS_SIM_STOREFRONT_SECRET_WOOCOMMERCE": DEMO_SECRETS["WOOCOMMERCE_WEBHOOK_SECRET"],
             "ECOMBUS_SIM_STOREFRONT_SECRET_BIGCOMMERCE": DEMO_SECRETS["BIGCOMMERCE_WEBHOOK_SECRET"]},
        port=8090, listens="Shopify-like admin API {url[storefront-sim]}/admin/api/2024-10, "
                           "controls {url[storefront-sim]}/_sim/received"),
    ProcessSpec(
        "carrier-sim", python("-m", "simulators", "carrier", "--port", "{port[carrier-sim]}"),
        env={"ECOMBUS_SIM_CARRIER_WEBHOOK_URL_EASYPOST": "{url[shipping-tracker]}/webhooks/easypost",
             "ECOMBUS_SIM_CARRIER_WEBHOOK_URL_AFTERSHIP": "{url[shipping-tracker]}/webhooks/aftership",
             "ECOMBUS_SIM_CARRIER_SECRET_EASYPOST": DEMO_SECRETS["EASYPOST_WEBHOOK_SECRET"],
             "ECOMBUS_SIM_CARRIER_SECRET_AFTERSHIP": DEMO_SECRETS["AFTERSHIP_WEBHOOK_SECRET"]},
        port=8093, listens="EasyPost/AfterShip-like webhooks, POST {url[carrier-sim]}/_sim/shipments"),
    ProcessSpec(
        "crm-sim", python("-m", "simulators.crm", "--port", "{port[crm-sim]}"),
        port=8086, listens="HubSpot-like contacts batch upsert {url[crm-sim]}/crm/v3/objects/contacts/"
                           "batch/upsert, controls {url[crm-sim]}/_sim/received"),
    ProcessSpec(
        "order-capture", ecombus("run", "order-capture"),
        env={**DEMO_SECRETS, "ECOMBUS_ORDER_CAPTURE_PORT": "{port[order-capture]}",
             "ECOMBUS_ORDER_CAPTURE_SHOPS": DEMO_SHOPS.replace("{", "{{").replace("}", "}}"),
             "ECOMBUS_ADMIN_PORT": "{admin_port[order-capture]}",
             "ECOMBUS_ORDER_CAPTURE_SHOPIFY_API_URL": "{url[storefront-sim]}",
             "ECOMBUS_ORDER_CAPTURE_SHOPIFY_SHOP_DOMAIN": SHOP,
             "ECOMBUS_ORDER_CAPTURE_SHOPIFY_API_TOKEN": "shpat-demo",
             "ECOMBUS_ORDER_CAPTURE_BIGCOMMERCE_API_URL": "{url[storefront-sim]}",
             "ECOMBUS_ORDER_CAPTURE_BIGCOMMERCE_API_TOKEN": "bc-demo",
             "ECOMBUS_ORDER_CAPTURE_RECONCILE_INTERVAL_SECONDS": "5"},
        port=8080, admin_port=9101,
        listens="webhooks {url[order-capture]}/webhooks/shopify|woocommerce|bigcommerce"),
    ProcessSpec(
        "shipping-tracker", ecombus("run", "shipping-tracker"),
        env={**DEMO_SECRETS, "ECOMBUS_SHIPPING_TRACKER_PORT": "{port[shipping-tracker]}",
             "ECOMBUS_ADMIN_PORT": "{admin_port[shipping-tracker]}",
             "ECOMBUS_SHIPPING_TRACKER_STOREFRONT_SYSTEM": SHOP,
             "ECOMBUS_SHIPPING_TRACKER_STOREFRONT_API_URL": "{url[storefront-sim]}",
             "ECOMBUS_SHIPPING_TRACKER_STOREFRONT_API_TOKEN": "shpat-demo"},
        port=8082, admin_port=9104,
        listens="webhooks {url[shipping-tracker]}/webhooks/easypost|aftership"),
    ProcessSpec(
        "erp-sim", python("-m", "simulators.erp", "--port", "{port[erp-sim]}", "--stock-dir",
                          "var/erp/stock", "--orders-dir", "var/erp/orders", "--drop-stock"),
        port=8094, listens="cXML orders {url[erp-sim]}/cxml/orders, stock files var/erp/stock, "
                           "order imports var/erp/orders, controls {url[erp-sim]}/_sim/received"),
    ProcessSpec(
        "router", ecombus("run", "router"),
        env={"ECOMBUS_ADMIN_PORT": "{admin_port[router]}", "ERP_URL": "{url[erp-sim]}",
             "ERP_STOCK_DIR": "var/erp/stock", "ERP_ORDERS_DIR": "var/erp/orders",
             "ERP_ORDERS_BATCH_SECONDS": "10"},
        admin_port=9105, listens="routes of deploy/routes.yaml (ERP files, cXML, order review)"),
    ProcessSpec(
        "inventory-sync", ecombus("run", "inventory-sync"),
        env={"ECOMBUS_ADMIN_PORT": "{admin_port[inventory-sync]}",
             "ECOMBUS_INVENTORY_STOREFRONT_URL": "{url[storefront-sim]}",
             "ECOMBUS_INVENTORY_STOREFRONT_TOKEN": "shpat-demo", "ECOMBUS_INVENTORY_PARK_SECONDS": "10"},
        admin_port=9102, listens="reservations; sellable stock to {url[storefront-sim]}/admin/api/2024-10/"
                                 "inventory_levels/set.json"),
    ProcessSpec(
        "crm-updater", ecombus("run", "crm-updater"),
        env={"ECOMBUS_ADMIN_PORT": "{admin_port[crm-updater]}", "ECOMBUS_CRM_API_URL": "{url[crm-sim]}"},
        admin_port=9103, listens="customers to {url[crm-sim]}/crm/v3/objects/contacts/batch/upsert"),
    ProcessSpec(
        "console", ecombus("run", "console"),
        env={"ECOMBUS_ADMIN_PORT": "{admin_port[console]}", "ECOMBUS_CONSOLE_PORT": "{port[console]}",
             "ECOMBUS_CONSOLE_TOKENS": _CONSOLE_ACCOUNTS.replace("{", "{{").replace("}", "}}"),
             "ECOMBUS_CONSOLE_LAG_INTERVAL_SECONDS": "5"},
        port=8088, admin_port=9108,
        listens=f"console {{url[console]}} (sign in with {DEMO_CONSOLE_TOKENS['operator']} as operator, "
                f"{DEMO_CONSOLE_TOKENS['viewer']} as viewer)"),
)
"""Everything ``ecombus up`` starts, in order. Add a service with one entry."""


@dataclass(frozen=True)
class ProcessState:
    """What ``ecombus ps`` shows for one declared process."""

    spec: ProcessSpec
    pid: int | None
    ready: bool | None
    listens: str
    log_file: str | None


class Stack:
    """The declared processes on concrete ports, against one cluster.

    Args:
        specs: the processes (:data:`STACK` by default).
        ports / admin_ports: overrides by process name (tests use free ports).
        extra_env: added to every process (tests point services at their own topics).
        home: the state directory (``ECOMBUS_STATE_DIR`` by default).
    """

    def __init__(self, specs: Sequence[ProcessSpec] = STACK, *, ports: Mapping[str, int] | None = None,
                 admin_ports: Mapping[str, int] | None = None, extra_env: Mapping[str, str] | None = None,
                 home: Path | None = None) -> None:
        self.specs = list(specs)
        self.ports = {s.name: s.port for s in self.specs if s.port is not None} | dict(ports or {})
        self.admin_ports = ({s.name: s.admin_port for s in self.specs if s.admin_port is not None}
                            | dict(admin_ports or {}))
        self.extra_env = dict(extra_env or {})
        self.home = home

    def _fill(self, text: str, bootstrap: str = "", registry: str = "") -> str:
        urls = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}
        try:
            return text.format(port=self.ports, admin_port=self.admin_ports, url=urls, bootstrap=bootstrap,
                               registry=registry)
        except (KeyError, IndexError) as exc:
            raise ConfigError(f"stack: {text!r} names an unknown process or address: {exc}") from exc

    def listens(self, spec: ProcessSpec) -> str:
        return self._fill(spec.listens)

    def up(self, bootstrap: str, registry: str, progress: Callable[[str], None] = print,
           timeout: float = 120.0) -> list[processes.ProcessRecord]:
        """Start every process not yet running, in order; each is waited for until its port opens.

        Raises:
            SetupError: a process exited or did not open its port (the message has its log tail).
        """
        commands = [self.command(spec, bootstrap, registry) for spec in self.specs]  # all valid first
        started = []
        for spec, (argv, env) in zip(self.specs, commands, strict=True):
            progress(f"starting {spec.name}")
            started.append(processes.start(spec.name, argv, env=env, ready_port=self.ports.get(spec.name),
                                           timeout=timeout, home=self.home))
        return started

    def command(self, spec: ProcessSpec, bootstrap: str, registry: str) -> tuple[list[str], dict[str, str]]:
        """The argv and environment of ``spec`` with every placeholder filled in.

        Raises:
            ConfigError: a placeholder names a process that is not declared.
        """
        env = {key: self._fill(value, bootstrap, registry) for key, value in spec.env.items()}
        env |= {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "SCHEMA_REGISTRY_URL": registry, **self.extra_env}
        return [self._fill(arg, bootstrap, registry) for arg in spec.argv], env

    def status(self) -> list[ProcessState]:
        """Each declared process: its pid when running, and whether ``/readyz`` answers 200."""
        states = []
        for spec in self.specs:
            record = processes.record(spec.name, self.home)
            ready = None
            if record is not None:
                port = self.admin_ports.get(spec.name) or self.ports.get(spec.name)
                ready = port is not None and _ready(port)
            states.append(ProcessState(spec, record.pid if record else None, ready, self.listens(spec),
                                       record.log_file if record else None))
        return states

    def down(self) -> list[str]:
        """Stop the declared processes (reverse order), then any other tracked one but the registry."""
        stopped = [s.name for s in reversed(self.specs) if processes.stop(s.name, home=self.home)]
        for other in processes.running(self.home):
            if other.name != "registry" and processes.stop(other.name, home=self.home):
                stopped.append(other.name)
        return stopped


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False
