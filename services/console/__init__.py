"""console: the bus seen in a browser — an order's journey, dead letters fixed and replayed, flow and
lag, topics browsed — for SREs (operator role) and analysts (viewer role, personal data masked).

``ecombus run console``; pages on :8088, admin endpoints on :9108. Nothing is served without
authentication (:mod:`.auth`). The pages read an embedded index the console rebuilds from the
topics on start and keeps current by tailing them (:mod:`.index`, :mod:`.tailer`), so a lookup
never scans a topic.

Modules: ``main`` (entry point), ``wiring`` (objects from settings), ``settings``
(``ECOMBUS_CONSOLE_*``), ``app`` (the FastAPI application), ``auth`` (who is asking, roles, CSRF),
``pages`` (templates), one module per page family (``journeys``, ``dead_letters``, ``flow``,
``topics``), ``index``/``journey``/``tailer`` (the index).
"""

SERVICE = "console"
"""The service's name: logs, metrics, admin port 9108, audit records of replays."""
