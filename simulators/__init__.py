"""Realistic fakes of the outside world for the demo and the end-to-end tests (never deployed).

* :mod:`simulators.storefront`: a Shopify-like store (plus a BigCommerce-like orders
  API) that signs and sends webhooks, serves orders, inventory and fulfillments, rate-limits
  like Shopify, injects faults and records what it received.
* :mod:`simulators.carrier`: EasyPost / AfterShip tracking webhooks through a
  shipment's life, optionally out of order and duplicated.
* :mod:`simulators.scenario`: the demo's story, pushed through both.

Run one as a process with ``python -m simulators storefront|carrier``.
"""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
"""Byte-exact copies of the shared platform payload fixtures."""


def fixture(name: str) -> bytes:
    """The exact bytes of a fixture, e.g. ``fixture("shopify_orders_create.json")``."""
    return (FIXTURES / name).read_bytes()
