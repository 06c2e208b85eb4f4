"""crm-updater: customers' profiles and lifetime figures, batch-upserted to a HubSpot-like CRM.

Consumes ``orders.placed.v1`` and ``customers.profiles.v1``, and after the sale
``orders.refunds.v1`` and ``orders.cancellations.v1``. For each customer (keyed by the
lower-cased email, the CRM's contact id) it keeps the latest profile and the orders counted, with
their refunds and cancellation, so a replayed or redelivered order or refund never counts twice
and the figures are net of refunds and cancellations (:mod:`.profiles`). The state lives in memory
and in a compacted changelog topic written in the same exactly-once transaction as the consumed
offsets; on start the service fences any previous instance and reads the changelog back
(:mod:`bus.runtime.state_store`, :mod:`.changelog`), so a restart or a SIGKILL loses and doubles nothing.

Single owner: every replica of the group shares the runtime's transactional.id, so the newest
instance fences the older ones and exactly one instance updates customers at a time; two orders
of one customer on different partitions are therefore never counted by two processes at once.

Each change also goes to an outbox topic; a background flusher (:mod:`.batcher`) sends the
contacts to the CRM in batches of at most 100 by size and time, under the CRM's rolling rate
limit, retrying 429/5xx, and dead-letters only the contacts the CRM rejects (:mod:`.hubspot`).

Modules: ``main`` (entry point), ``wiring`` (objects from settings), ``handlers`` (the rules
applied to each event), ``settings`` (``ECOMBUS_CRM_*``), ``profiles``, ``changelog``,
``hubspot``, ``batcher`` (fencing and read-back: ``bus.runtime.state_store``).
``ecombus run crm-updater``; admin endpoints on :9103.
"""

SERVICE = "crm-updater"
"""The service's name: consumer group ``ecombus.crm-updater``, logs, metrics, ``dlq.crm-updater``."""
