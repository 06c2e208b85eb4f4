"""The Grafana dashboard ``deploy/grafana/ecombus.json``, generated from :data:`ROWS`.

Each row is a title and its panels; each panel a title, a unit and its PromQL queries (with
legends). Every metric a query names must exist in the code: ``python -m bus.tools.deploy --check``
and the deploy tests compare them with :func:`bus.tools.deploy.series.exposed_series`.
Variables: ``$datasource`` (a Prometheus), ``$service`` and ``$group`` (multi-select, All).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

UID = "ecombus-overview"
RATE = "$__rate_interval"
SVC = 'service=~"$service"'
REPLAY_GROUPS = 'group=~"ecombus[.]dlq-replay[.].+"'
ONE_MONITOR = "max by (group, topic, partition)"
"""Lag series deduplicated across monitor pods (two overlap during a rollout)."""
_LABEL_VALUES = re.compile(r"label_values\((.+),\s*\w+\)")
GRP = 'group=~"$group"'


@dataclass(frozen=True)
class Panel:
    """A time series panel: ``queries`` are (PromQL, legend) pairs."""

    title: str
    unit: str
    queries: tuple[tuple[str, str], ...]
    description: str = ""


def _quantiles(metric: str, by: str, selector: str) -> tuple[tuple[str, str], ...]:
    return tuple((f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{selector}}}[{RATE}])))",
                  f"p{round(q * 100)} {{{{{by}}}}}") for q in (0.5, 0.99))


ROWS: tuple[tuple[str, tuple[Panel, ...]], ...] = (
    ("Lag (measured by the monitor, from outside the groups)", (
        Panel("Lag per group (messages)", "short",
              ((f"sum by (group) ({ONE_MONITOR} (ecombus_consumergroup_lag{{{GRP}}}))", "{{group}}"),),
              "Unconsumed messages; a dead consumer's lag keeps rising. 1 per partition on an idle "
              "exactly-once topic is the commit marker."),
        Panel("Lag per group (seconds)", "s",
              ((f"max by (group) (ecombus_consumergroup_lag_seconds{{{GRP}}})", "{{group}}"),),
              "Age of the oldest message not consumed yet; 0 when caught up."),
        Panel("Lag per partition (messages)", "short",
              ((f"{ONE_MONITOR} (ecombus_consumergroup_lag{{{GRP}}})",
                "{{group}} {{topic}}/{{partition}}"),)),
        Panel("Group members", "short",
              ((f"max by (group) (ecombus_consumergroup_members{{{GRP}}})", "{{group}}"),),
              "0 means no consumer of the group is alive."),
    )),
    ("Throughput", (
        Panel("Processed by outcome", "ops",
              ((f"sum by (service, outcome) (rate(ecombus_messages_processed_total{{{SVC}}}[{RATE}]))",
                "{{service}} {{outcome}}"),)),
        Panel("Consumed and produced per topic", "ops",
              ((f"sum by (topic) (rate(ecombus_messages_consumed_total{{{SVC}}}[{RATE}]))",
                "in {{topic}}"),
               (f"sum by (topic) (rate(ecombus_messages_produced_total{{{SVC}}}[{RATE}]))",
                "out {{topic}}"))),
    )),
    ("Failures", (
        Panel("Dead letters", "short",
              ((f"sum by (service, topic, kind) (increase(ecombus_dead_letters_total{{{SVC}}}[{RATE}]))",
                "{{service}} {{topic}} {{kind}}"),),
              "Read them with `ecombus dlq list <service>`; replay with `ecombus dlq replay <service>`."),
        Panel("Dead letters pending replay", "short",
              ((f"sum by (topic) ({ONE_MONITOR} (ecombus_consumergroup_lag{{{REPLAY_GROUPS}}}))",
                "{{topic}}"),),
              "DLQ depth past the replay group's position (after a first replay)."),
        Panel("Handler failures and retries", "ops",
              ((f"sum by (service, kind) (rate(ecombus_handler_failures_total{{{SVC}}}[{RATE}]))",
                "{{service}} failed {{kind}}"),
               (f"sum by (service) (rate(ecombus_handler_retries_total{{{SVC}}}[{RATE}]))",
                "{{service}} retried"))),
        Panel("Producer delivery failures and duplicates", "ops",
              ((f"sum by (service, topic) (rate(ecombus_producer_delivery_failures_total{{{SVC}}}[{RATE}]))",
                "{{service}} unacknowledged {{topic}}"),
               (f"sum by (service) (rate(ecombus_duplicates_total{{{SVC}}}[{RATE}]))",
                "{{service}} duplicates"))),
    )),
    ("Latency", (
        Panel("Processing duration p50 / p99", "s",
              _quantiles("ecombus_processing_duration_seconds", "service", SVC),
              "Handler time including retries."),
        Panel("End-to-end latency p50 / p99", "s",
              _quantiles("ecombus_end_to_end_latency_seconds", "service", SVC),
              "From the event's occurred_at to the end of its handling."),
    )),
    ("HTTP", (
        Panel("Webhooks by outcome", "reqps",
              ((f"sum by (platform, outcome) (rate(ecombus_webhook_requests_total{{{SVC}}}[{RATE}]))",
                "{{platform}} {{outcome}}"),)),
        Panel("Outbound HTTP by outcome", "reqps",
              ((f"sum by (service, target, outcome) "
                f"(rate(ecombus_http_client_requests_total{{{SVC}}}[{RATE}]))",
                "{{service}} → {{target}} {{outcome}}"),)),
        Panel("Outbound HTTP duration p50 / p99", "s",
              _quantiles("ecombus_http_client_request_duration_seconds", "target", SVC)),
    )),
    ("Router", (
        Panel("Messages per route", "ops",
              ((f"sum by (route) (rate(ecombus_router_messages_in_total[{RATE}]))", "in {{route}}"),
               (f"sum by (route, endpoint) (rate(ecombus_router_messages_out_total[{RATE}]))",
                "out {{route}} → {{endpoint}}"))),
        Panel("Router failures and dead letters", "ops",
              ((f"sum by (route, step, kind) (rate(ecombus_router_failures_total[{RATE}]))",
                "{{route}}/{{step}} {{kind}}"),
               (f"sum by (route, step) (rate(ecombus_router_dead_letters_total[{RATE}]))",
                "{{route}}/{{step}} dead-lettered"))),
    )),
    ("Health", (
        Panel("Processing loops up", "short",
              ((f"sum by (service) (ecombus_service_up{{{SVC}}})", "{{service}}"),),
              "Replicas whose processing loop runs."),
        Panel("Lag measurement", "s",
              (("time() - max(ecombus_lag_last_success_timestamp_seconds)", "since last success"),
               (f"sum by (stage) (rate(ecombus_lag_scrape_errors_total[{RATE}]))", "errors {{stage}}")),
              "If the monitor cannot measure, the lag alerts are blind."),
    )),
)


def _variable(name: str, query: str) -> dict[str, Any]:
    return {"name": name, "label": name, "type": "query", "datasource": {"type": "prometheus",
            "uid": "${datasource}"}, "query": {"query": query, "refId": name}, "definition": query,
            "refresh": 2, "multi": True, "includeAll": True, "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "sort": 1}


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id, "type": "timeseries", "title": panel.title, "description": panel.description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit, "min": 0}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom",
                               "calcs": ["lastNotNull", "max"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
        "targets": [{"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend}
                    for i, (expr, legend) in enumerate(panel.queries)],
    }


def dashboard() -> dict[str, Any]:
    """The whole dashboard JSON model (Grafana 10+, schemaVersion 39)."""
    panels: list[dict[str, Any]] = []
    y = 0
    for title, row in ROWS:
        panels.append({"id": len(panels) + 1, "type": "row", "title": title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        y += 1
        for i, panel in enumerate(row):
            panels.append(_panel(panel, len(panels) + 1, 12 * (i % 2), y + 8 * (i // 2)))
        y += 8 * ((len(row) + 1) // 2)
    return {
        "uid": UID, "title": "ecombus", "tags": ["ecombus", "kafka"], "timezone": "browser",
        "schemaVersion": 39, "version": 1, "editable": True, "graphTooltip": 1, "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0},
            _variable("service", "label_values(ecombus_service_up, service)"),
            _variable("group", "label_values(ecombus_consumergroup_lag, group)"),
        ]},
        "annotations": {"list": []},
        "panels": panels,
    }


def expressions(model: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard model: panel targets, and the series selector of
    each ``label_values(<selector>, <label>)`` variable query."""
    found = [t["expr"] for p in model["panels"] for t in p.get("targets", [])]
    for var in model["templating"]["list"]:
        query = var.get("query")
        if isinstance(query, dict):
            match = _LABEL_VALUES.fullmatch(query["query"].strip())
            found.append(match.group(1) if match else query["query"])
    return found
