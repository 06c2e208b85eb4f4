"""Reading metric names from the source and from PromQL, which the alert and dashboard checks
rely on: if either reading were wrong, those checks would pass for the wrong reason."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from bus.observability.metrics import RuntimeMetrics
from bus.tools.deploy.series import exposed_series, metric_names, metrics_in_source, unknown_metrics
from services.monitor.handlers import LagExporter
from services.router.metrics import COUNTERS, RouterMetrics


def collected(registry: CollectorRegistry) -> set[str]:
    return {s.name for family in registry.collect() for s in family.samples}


def test_every_series_the_runtime_the_monitor_and_the_router_expose_is_found_in_the_source() -> None:
    registry = CollectorRegistry()
    metrics = RuntimeMetrics("router", registry)
    exporter = LagExporter(registry)
    metrics.processed.labels("router", "t", "h", "ok").inc()
    metrics.processing_seconds.labels("router", "h").observe(0.1)
    metrics.failures.labels("router", "t", "h", "transient").inc()
    exporter.lag.labels("g", "t", "0").set(1)
    exporter.scrapes.labels("ok").inc()
    router = RouterMetrics(registry)
    for metric, (_, labels) in COUNTERS.items():
        router.child(metric, *(["x"] * len(labels))).inc()
    router.child("step_seconds", "route", "step").observe(0.001)
    names = collected(registry)
    assert {"ecombus_messages_processed_total", "ecombus_processing_duration_seconds_bucket",
            "ecombus_consumergroup_lag", "ecombus_lag_scrape_duration_seconds_count",
            "ecombus_router_dead_letters_total", "ecombus_router_step_duration_seconds_bucket"} <= names
    assert names <= exposed_series()


def test_names_built_from_a_module_constant_are_resolved() -> None:
    source = '''
PREFIX = "ecombus_registry_"
a = Counter(f"{PREFIX}requests", "help", registry=r)
b = prometheus_client.Histogram("ecombus_x_seconds", "help")
c = GaugeMetricFamily(f"{PREFIX}ready", "help", value=1)
d = Counter(some_variable, "help")
_NAMES: dict[str, str] = {"in": "messages_in", "out": "messages_out"}
def collect(metric):
    yield CounterMetricFamily(f"ecombus_router_{_NAMES[metric]}", "help")
'''
    assert metrics_in_source(source) == {"ecombus_registry_requests": "Counter",
                                         "ecombus_x_seconds": "Histogram",
                                         "ecombus_registry_ready": "GaugeMetricFamily",
                                         "ecombus_router_messages_in": "CounterMetricFamily",
                                         "ecombus_router_messages_out": "CounterMetricFamily"}


def test_metric_names_leave_out_functions_labels_keywords_and_variables() -> None:
    expr = ('histogram_quantile(0.99, sum by (le, service) (rate(ecombus_a_bucket{service=~"$service", '
            'outcome!="up"}[$__rate_interval]))) / ignoring(x) group_left ecombus_b offset 5m '
            'and on () hour() >= 8 or vector(1e3) unless up{job="ecombus"} > bool 0')
    assert metric_names(expr) == {"ecombus_a_bucket", "ecombus_b", "up"}


def test_an_unknown_metric_is_reported() -> None:
    known = frozenset({"ecombus_a_total"})
    assert unknown_metrics(["rate(ecombus_a_total[5m])", "ecombus_typo_total > 0"], known) == {
        "ecombus_typo_total > 0": {"ecombus_typo_total"}}
