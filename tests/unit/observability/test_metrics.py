"""RuntimeMetrics: names, label order and units, on an injected registry."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from bus.observability.metrics import RuntimeMetrics


@pytest.fixture
def metrics() -> RuntimeMetrics:
    return RuntimeMetrics("inventory-sync", CollectorRegistry())


def test_counters_expose_total_names_with_labels_in_documented_order(metrics: RuntimeMetrics) -> None:
    s, t, h = "inventory-sync", "orders.placed.v1", "reserve_stock"
    metrics.consumed.labels(s, t).inc()
    metrics.processed.labels(s, t, h, "ok").inc(2)
    metrics.failures.labels(s, t, h, "transient").inc()
    metrics.retries.labels(s, t, h).inc()
    metrics.dead_lettered.labels(s, t, h, "permanent").inc()
    metrics.duplicates.labels(s, h).inc()
    metrics.produced.labels(s, t).inc()
    metrics.delivery_failures.labels(s, t).inc()
    metrics.http_requests.labels(s, "shopify", "ok").inc()
    metrics.webhooks.labels(s, "shopify", "accepted").inc()
    get = metrics.registry.get_sample_value
    assert get("ecombus_messages_consumed_total", {"service": s, "topic": t}) == 1
    assert get("ecombus_messages_processed_total",
               {"service": s, "topic": t, "handler": h, "outcome": "ok"}) == 2
    assert get("ecombus_handler_failures_total",
               {"service": s, "topic": t, "handler": h, "kind": "transient"}) == 1
    assert get("ecombus_handler_retries_total", {"service": s, "topic": t, "handler": h}) == 1
    assert get("ecombus_dead_letters_total",
               {"service": s, "topic": t, "handler": h, "kind": "permanent"}) == 1
    assert get("ecombus_duplicates_total", {"service": s, "handler": h}) == 1
    assert get("ecombus_messages_produced_total", {"service": s, "topic": t}) == 1
    assert get("ecombus_producer_delivery_failures_total", {"service": s, "topic": t}) == 1
    assert get("ecombus_http_client_requests_total",
               {"service": s, "target": "shopify", "outcome": "ok"}) == 1
    assert get("ecombus_webhook_requests_total",
               {"service": s, "platform": "shopify", "outcome": "accepted"}) == 1


def test_histograms_use_seconds_and_end_to_end_reaches_an_hour(metrics: RuntimeMetrics) -> None:
    s = "inventory-sync"
    metrics.processing_seconds.labels(s, "reserve_stock").observe(0.02)
    metrics.end_to_end_seconds.labels(s, "orders.placed.v1").observe(3000)
    metrics.http_seconds.labels(s, "shopify").observe(0.3)
    get = metrics.registry.get_sample_value
    assert get("ecombus_processing_duration_seconds_count", {"service": s, "handler": "reserve_stock"}) == 1
    assert get("ecombus_end_to_end_latency_seconds_bucket",
               {"service": s, "topic": "orders.placed.v1", "le": "3600.0"}) == 1
    assert get("ecombus_end_to_end_latency_seconds_bucket",
               {"service": s, "topic": "orders.placed.v1", "le": "1800.0"}) == 0
    assert get("ecombus_http_client_request_duration_seconds_sum", {"service": s, "target": "shopify"}) == 0.3


def test_gauges_and_up_flag(metrics: RuntimeMetrics) -> None:
    get = metrics.registry.get_sample_value
    metrics.in_flight.labels("inventory-sync").inc(3)
    metrics.mark_up()
    assert get("ecombus_messages_in_flight", {"service": "inventory-sync"}) == 3
    assert get("ecombus_service_up", {"service": "inventory-sync"}) == 1
    metrics.mark_down()
    assert get("ecombus_service_up", {"service": "inventory-sync"}) == 0


def test_every_metric_name_is_prefixed_and_two_services_do_not_collide() -> None:
    one, two = CollectorRegistry(), CollectorRegistry()
    RuntimeMetrics("a", one)
    RuntimeMetrics("b", two)  # a separate registry: no "Duplicated timeseries" error
    names = [m.name for m in one.collect()]
    assert len(names) == 15
    assert all(name.startswith("ecombus_") for name in names)
