"""Which Prometheus series the code exposes, and which ones a PromQL expression names.

Alerts and dashboards break silently when a metric is renamed: the query just returns nothing.
:func:`exposed_series` reads the source (no import, so services under construction cannot
break it) for every ``Counter`` / ``Gauge`` / ``Histogram`` / ``Summary`` (and the
``*MetricFamily`` of custom collectors) whose name is a literal or an f-string over module-level
string constants or string-valued dicts, and expands each into the series Prometheus stores
(``_total`` on counters; ``_bucket`` / ``_sum`` / ``_count`` on histograms).
:func:`metric_names` pulls the metric names out of an expression, so the two can be compared.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

from bus.tools.deploy import REPO_ROOT

SOURCE_DIRS = ("bus", "services")

SUFFIXES: dict[str, tuple[str, ...]] = {
    "Counter": ("_total", "_created"),
    "CounterMetricFamily": ("_total",),
    "Gauge": ("",),
    "GaugeMetricFamily": ("",),
    "Histogram": ("_bucket", "_sum", "_count", "_created"),
    "HistogramMetricFamily": ("_bucket", "_sum", "_count"),
    "Summary": ("", "_sum", "_count", "_created"),
    "SummaryMetricFamily": ("", "_sum", "_count"),
    "Info": ("_info",),
    "Enum": ("",),
}
"""Series stored for a metric of each prometheus_client kind, as suffixes of its name."""

PROMETHEUS_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
"""Series Prometheus itself adds to every target."""

KEYWORDS = frozenset({"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
                      "group_right", "offset", "bool", "inf", "nan"})

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_GROUPINGS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_VARIABLES = re.compile(r"\$\{?\w+\}?")
_IDENTIFIER = re.compile(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?")


def _constants(tree: ast.Module) -> dict[str, list[str]]:
    """Module-level string constants, and the values of module-level ``{key: "string"}`` dicts."""
    found: dict[str, list[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            value, targets = node.value, node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            value, targets = node.value, [node.target]
        else:
            continue
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            strings = [value.value]
        elif isinstance(value, ast.Dict):
            strings = [v.value for v in value.values
                       if isinstance(v, ast.Constant) and isinstance(v.value, str)]
            if len(strings) != len(value.values):
                continue
        else:
            continue
        found.update({t.id: strings for t in targets if isinstance(t, ast.Name)})
    return found


def _literals(node: ast.expr, constants: dict[str, list[str]]) -> list[str]:
    """The strings ``node`` can evaluate to: a literal, or an f-string over module constants
    (``f"{PREFIX}x"``) or over a module-level dict of strings (``f"x_{NAMES[key]}"``: every value)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if not isinstance(node, ast.JoinedStr):
        return []
    results = [""]
    for value in node.values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            options = [value.value]
        elif isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Name):
            options = constants.get(value.value.id, [])[:1]
        elif (isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Subscript)
              and isinstance(value.value.value, ast.Name)):
            options = constants.get(value.value.value.id, [])
        else:
            options = []
        if not options:
            return []
        results = [r + o for r in results for o in options]
    return results


def metrics_in_source(text: str) -> dict[str, str]:
    """``{metric name: kind}`` for every metric defined in one module's source."""
    tree = ast.parse(text)
    constants = _constants(tree)
    found = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        kind = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        for name in _literals(node.args[0], constants) if kind in SUFFIXES else []:
            found[name.removesuffix("_total") if kind.startswith("Counter") else name] = kind
    return found


def exposed_series(root: Path = REPO_ROOT, dirs: Iterable[str] = SOURCE_DIRS) -> frozenset[str]:
    """Every series name the code under ``root/<dirs>`` can expose, plus Prometheus' own."""
    series = set(PROMETHEUS_SERIES)
    for folder in dirs:
        for path in sorted((root / folder).rglob("*.py")):
            for name, kind in metrics_in_source(path.read_text(encoding="utf-8")).items():
                series.update(name + suffix for suffix in SUFFIXES[kind])
    return frozenset(series)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords and labels left out)."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPINGS.sub("", text)
    text = _VARIABLES.sub("", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.groups()
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def unknown_metrics(expressions: Iterable[str], known: frozenset[str]) -> dict[str, set[str]]:
    """``{expression: names it selects that the code does not expose}``, only where some are."""
    missing = {}
    for expr in expressions:
        names = metric_names(expr) - known
        if names:
            missing[expr] = names
    return missing
