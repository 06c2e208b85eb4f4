"""Observability for every ecombus process: Prometheus metrics, the admin HTTP server
(``/metrics``, ``/healthz``, ``/readyz``), health and readiness, JSON logs with personal data
masked, and consumer-group lag measured from outside the groups.

Modules:
    metrics:        metric names and the :class:`~bus.observability.metrics.RuntimeMetrics` set.
    health:         :class:`~bus.observability.health.Health`, liveness heartbeat + readiness checks.
    admin_server:   :class:`~bus.observability.admin_server.AdminServer`, the three endpoints, and
                    the default admin ports.
    logging:        :func:`~bus.observability.logging.configure_logging`, JSON lines on stderr.
    masking:        what personal data is masked in logs, and how.
    lag:            :func:`~bus.observability.lag.measure_lag`, lag in messages and seconds.
    oldest_message: reads the timestamps lag in seconds is computed from.
"""
