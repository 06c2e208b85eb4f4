"""``python -m simulators storefront|carrier``: run a simulator as a process.

Settings come from the environment (``ECOMBUS_SIM_STOREFRONT_*``, ``ECOMBUS_SIM_CARRIER_*``,
see each simulator) and the options below; the process serves until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import click

from bus.observability.logging import configure_logging
from bus.webhooks import HttpServer


def _serve(name: str, app: Any, host: str, port: int) -> None:
    configure_logging(name, "INFO")
    server = HttpServer(app, host, port, name=name).start()
    click.echo(f"{name} listening on {server.url}", err=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()


@click.group()
def main() -> None:
    """ecombus simulators: a storefront and a carrier for the demo and end-to-end tests."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, envvar="ECOMBUS_SIM_STOREFRONT_PORT")
def storefront(host: str, port: int) -> None:
    """A Shopify-like store (plus a BigCommerce-like orders API); /_sim/... drives it."""
    from simulators.storefront import StorefrontConfig, create_app

    _serve("storefront-sim", create_app(StorefrontConfig.from_env()), host, port)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8093, show_default=True, envvar="ECOMBUS_SIM_CARRIER_PORT")
def carrier(host: str, port: int) -> None:
    """An EasyPost/AfterShip-like tracking service; POST /_sim/shipments sends a shipment's life."""
    from simulators.carrier import CarrierSimulator, create_app

    _serve("carrier-sim", create_app(CarrierSimulator.from_env()), host, port)


if __name__ == "__main__":
    main()
