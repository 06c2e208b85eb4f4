"""monitor: the lag of every ecombus consumer group, in messages and in seconds, as Prometheus gauges.

It measures from outside the groups (admin API plus an assign-only reader), so a dead consumer's
lag keeps rising on the dashboard. ``ecombus run monitor``; admin endpoints on :9106.

Modules: ``main`` (entry point), ``wiring`` (objects from settings), ``handlers`` (publishing a
measurement as gauges), ``settings`` (``ECOMBUS_MONITOR_*``).
"""

SERVICE = "monitor"
"""The service's name: consumer group ``ecombus.monitor``, logs, metrics, ``dlq.monitor``."""
