"""inventory-sync: stock reservations that never oversell, and sellable quantities on the storefront.

Consumes ERP stock levels (``inventory.levels.v1``, from the router) and orders
(``orders.placed.v1``), and after the sale cancellations, refunds and returns
(``orders.cancellations.v1``, ``orders.refunds.v1``, ``orders.returns.v1``): they release an
order's holds or put units back on hand, each unit once (:mod:`.aftersale`). Per SKU it keeps
the ERP's count per location and the units held for orders (:mod:`.stock`); each order gets one
StockReservation and an OrderStatusChanged RESERVED or BACKORDERED (:mod:`.allocation`,
:mod:`.handlers`). An order naming a SKU whose level was never seen (a cold start, orders read
before the ERP's first stock file) waits for that level, a minute at most by default, instead of
being backordered against nothing.

Never oversells, by construction: stock is decided by a single thread of a single owner. The
service runs the runtime's exactly-once loop, whose transactional.id (``<group>.txn``) is shared
by every instance of the group: on start an instance fences the previous one (whose open
transaction is aborted and which can commit nothing more), *then* reads the state back, so
exactly one instance at a time decides, from the complete committed state. It consumes every
partition of its topics, so two orders racing for the last unit, whatever partitions their
order ids hash to, are decided one after the other by the same loop: the first takes the hold,
the second finds nothing left. Scaling is by SKU volume in one process (decisions are
in-memory, thousands per second), not by replicas; a second replica only takes over.

State survives restarts and SIGKILL without local files: positions and order ledgers go to
compacted changelogs and decisions to ``inventory.reservations.v1``, in the same transaction as
the consumed offsets, and are read back on start (:mod:`.changelog`, :mod:`bus.runtime.state_store`).

Storefront: every change writes the net sellable level back to ``inventory.levels.v1``; a
background pusher (:mod:`.coalescer`) coalesces them per SKU and location and sets the latest
value through the Shopify-like inventory API within its leaky bucket (:mod:`.storefront`),
mapping SKUs through ``deploy/sku-map.csv`` (:mod:`.sku_map`); an unknown SKU is dead-lettered.

Modules: ``main`` (entry point), ``wiring`` (objects from settings), ``handlers`` (the rules
applied to each event), ``settings`` (``ECOMBUS_INVENTORY_*``), ``stock``, ``allocation``,
``aftersale``, ``changelog``, ``sku_map``, ``storefront``, ``coalescer``.
``ecombus run inventory-sync``; admin endpoints on :9102.
"""

SERVICE = "inventory-sync"
"""The service's name: consumer group ``ecombus.inventory-sync``, logs, metrics, ``dlq.inventory-sync``."""
