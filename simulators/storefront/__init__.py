"""A Shopify-like storefront (plus a BigCommerce-like orders API) for the demo and the tests.

``create_app(StorefrontConfig(...))`` gives the FastAPI app; run it in-process with
:class:`bus.webhooks.server.HttpServer` or as a process with ``python -m simulators
storefront``. Modules: ``app`` (the app and its middleware), ``admin_api`` (the APIs the bus
calls), ``controls`` (``/_sim/...``), ``webhooks`` (signing and sending), ``orders`` (generated
orders in several currencies and scripts), ``state``, ``ratelimit``, ``config``.
"""

from simulators.storefront.app import create_app
from simulators.storefront.config import DEMO_SECRETS, StorefrontConfig

__all__ = ["DEMO_SECRETS", "StorefrontConfig", "create_app"]
