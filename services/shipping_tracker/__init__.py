"""shipping-tracker: carrier tracking webhooks in, shipments and order statuses out, fulfillments
pushed back to the storefront.

EasyPost and AfterShip webhooks are verified and published as ShipmentUpdated
(shipments.tracking.v1); a consumer of that topic pushes each tracking number's fulfillment to
the store once and moves the order's status forward only (orders.status.v1): a late or
out-of-order scan is recorded but never regresses a delivered order. ``ecombus run
shipping-tracker``; webhooks on :8082, admin endpoints on :9104.

Modules: ``main`` (entry point), ``wiring`` (both sides from settings), ``handlers`` (what a
webhook and a shipment update mean), ``settings`` (``ECOMBUS_SHIPPING_TRACKER_*``); ``carriers``
(EasyPost/AfterShip payloads), ``statuses`` (the monotonic status machine and the status book),
``storefront`` (the store's order and fulfillment API).
"""

SERVICE = "shipping-tracker"
"""The service's name: group ``ecombus.shipping-tracker``, logs, metrics, ``dlq.shipping-tracker``."""
