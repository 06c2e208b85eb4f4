"""What the storefront simulator pretends to be, and where it sends its webhooks.

Every field can come from the environment (``ECOMBUS_SIM_STOREFRONT_*``) when it runs as a
process; tests build the dataclass directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEMO_SECRETS = {"shopify": "demo-shopify-secret", "woocommerce": "demo-woocommerce-secret",
                "bigcommerce": "demo-bigcommerce-secret"}
"""Signing secrets the local stack gives both the simulator and order-capture."""


@dataclass
class StorefrontConfig:
    """The simulated store.

    Attributes:
        shop_domain: ``X-Shopify-Shop-Domain`` of the Shopify-like store.
        woocommerce_source: ``X-WC-Webhook-Source`` of the WooCommerce-like store.
        bigcommerce_store_id / bigcommerce_store_hash: the BigCommerce-like store
            (``GET /stores/<hash>/v2/orders/<id>``).
        webhook_urls: where each platform's webhooks go, by platform.
        secrets: each platform's signing secret.
        api_token: required in ``X-Shopify-Access-Token`` / ``X-Auth-Token`` when set.
        bucket_capacity / leak_per_second: the Shopify REST leaky bucket.
    """

    shop_domain: str = "hanako-tea.myshopify.com"
    woocommerce_source: str = "https://shop.example.de/"
    bigcommerce_store_id: str = "1025646"
    bigcommerce_store_hash: str = "abc123"
    webhook_urls: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=lambda: dict(DEMO_SECRETS))
    api_token: str | None = None
    bucket_capacity: int = 40
    leak_per_second: float = 2.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> StorefrontConfig:
        """From ``ECOMBUS_SIM_STOREFRONT_*``: ``WEBHOOK_URL_SHOPIFY``, ``SECRET_SHOPIFY`` (and the
        same for ``WOOCOMMERCE`` / ``BIGCOMMERCE``), ``SHOP_DOMAIN``, ``API_TOKEN``,
        ``BUCKET_CAPACITY``, ``LEAK_PER_SECOND``."""
        env = os.environ if environ is None else environ
        prefix = "ECOMBUS_SIM_STOREFRONT_"
        config = cls()
        for platform in ("shopify", "woocommerce", "bigcommerce"):
            url = env.get(f"{prefix}WEBHOOK_URL_{platform.upper()}")
            if url:
                config.webhook_urls[platform] = url
            secret = env.get(f"{prefix}SECRET_{platform.upper()}")
            if secret:
                config.secrets[platform] = secret
        config.shop_domain = env.get(f"{prefix}SHOP_DOMAIN", config.shop_domain)
        config.api_token = env.get(f"{prefix}API_TOKEN") or None
        config.bucket_capacity = int(env.get(f"{prefix}BUCKET_CAPACITY", config.bucket_capacity))
        config.leak_per_second = float(env.get(f"{prefix}LEAK_PER_SECOND", config.leak_per_second))
        return config
