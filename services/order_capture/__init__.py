"""order-capture: storefront webhooks in, OrderPlaced / CustomerUpserted / OrderStatusChanged out.

Shopify, WooCommerce and BigCommerce webhooks are verified over the raw body, mapped to the
canonical events (exact decimals, shop and presentment currency, Unicode as sent), deduplicated
by the platforms' own ids across replicas and restarts, and answered 2xx only once the broker
acknowledged. A reconciliation pass backfills orders whose webhook never arrived.
``ecombus run order-capture``; webhooks on :8080, admin endpoints on :9101.

Modules: ``main`` (entry point), ``wiring`` (objects from settings), ``handlers`` (what each
webhook means), ``settings`` (``ECOMBUS_ORDER_CAPTURE_*``); per platform ``shopify``,
``woocommerce``, ``bigcommerce``; ``orders`` and ``money`` (the canonical order),
``reconciliation`` and ``cursor`` (backfilling missed orders).
"""

SERVICE = "order-capture"
"""The service's name: consumer group ``ecombus.order-capture``, logs, metrics, ``dlq.order-capture``."""
