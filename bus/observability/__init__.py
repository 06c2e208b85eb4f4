"""Observability for every ecombus process: Prometheus metrics, the admin HTTP server
(``/metrics``, ``/healthz``, ``/readyz``), health and readiness, and JSON logs with personal data
masked.

Modules:
    metrics:      metric names and the :class:`~bus.observability.metrics.RuntimeMetrics` set.
    health:       :class:`~bus.observability.health.Health`, liveness heartbeat + readiness checks.
    admin_server: :class:`~bus.observability.admin_server.AdminServer` serving the three endpoints.
    logging:      :func:`~bus.observability.logging.configure_logging`, JSON lines on stderr.
"""
