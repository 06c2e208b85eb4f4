"""The Grafana dashboard: the committed JSON is the generated one, its queries name only metrics
the code exposes, and it shows what SREs asked for."""

from __future__ import annotations

import json

from bus.tools.deploy import REPO_ROOT
from bus.tools.deploy.dashboard import dashboard, expressions
from bus.tools.deploy.render import DASHBOARD
from bus.tools.deploy.series import exposed_series, metric_names, unknown_metrics


def test_the_committed_dashboard_is_valid_json_and_the_generated_one() -> None:
    committed = json.loads((REPO_ROOT / DASHBOARD).read_text(encoding="utf-8"))
    assert committed == dashboard()
    assert committed["uid"] and committed["schemaVersion"] >= 36


def test_panels_have_unique_ids_and_refids_and_do_not_overlap() -> None:
    model = dashboard()
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for panel in model["panels"]:
        refs = [t["refId"] for t in panel.get("targets", [])]
        assert len(refs) == len(set(refs))
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, panel["title"]
                cells.add((x, y))


def test_queries_select_only_metrics_the_code_exposes() -> None:
    assert unknown_metrics(expressions(dashboard()), exposed_series()) == {}


def test_it_shows_lag_throughput_failures_latency_and_http() -> None:
    exprs = expressions(dashboard())
    used = set().union(*(metric_names(e) for e in exprs))
    histograms = ("ecombus_processing_duration_seconds_bucket", "ecombus_end_to_end_latency_seconds_bucket")
    assert used >= {
        "ecombus_consumergroup_lag", "ecombus_consumergroup_lag_seconds", "ecombus_messages_processed_total",
        "ecombus_dead_letters_total", "ecombus_handler_retries_total", "ecombus_http_client_requests_total",
        "ecombus_webhook_requests_total", *histograms,
    }
    for histogram in histograms:
        quantiles = [e for e in exprs if histogram in e]
        assert {e.split(",")[0] for e in quantiles} == {"histogram_quantile(0.5", "histogram_quantile(0.99"}
    assert any("sum by (service, outcome)" in e and "messages_processed" in e for e in exprs)
