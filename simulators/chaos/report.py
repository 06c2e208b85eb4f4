"""The end of a chaos run: the table of invariants, the faults' recoveries, webhook latency.

:func:`fault_rows` and :func:`latency_row` add to the invariants' rows
(:mod:`simulators.chaos.invariants`) what only the run itself knows; :class:`Report` holds
them all with the run's seed and durations, renders the table for people and the JSON for
tests (``--json``). Its ``ok`` is False as soon as one row's verdict is, and that is the exit
status of ``ecombus chaos``.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from simulators.chaos.faults import Outcome
from simulators.chaos.invariants import Row, Window
from simulators.chaos.traffic import Attempt


def windows(outcomes: Sequence[Outcome]) -> list[Window]:
    """When each fault lasted: from its start to its recovery (or its end, or its start)."""
    return [Window(o.started_at, o.recovered_at or o.ended_at or o.started_at) for o in outcomes]


def fault_rows(outcomes: Sequence[Outcome]) -> list[Row]:
    """Per kind of fault and target: how many, how many recovered, recovery median and max."""
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        fault = outcome.fault
        what = {"kill": f"SIGKILL {fault.target}", "broker-kill": "SIGKILL broker",
                "broker-pause": "SIGSTOP broker", "storm": f"storm {fault.target}"}[fault.kind]
        groups[what].append(outcome)
    rows = []
    for what, group in sorted(groups.items()):
        done = [o for o in group if not o.note]
        times = [o.recovery for o in done if o.recovery is not None]
        stuck = [o for o in done if o.recovery is None]
        figures = (f"{len(group)} faults, recovered {len(times)}" + (f", not done {len(group) - len(done)}"
                                                                    if len(done) < len(group) else "")
                   + (f"; recovery median {statistics.median(times):.1f} s, max {max(times):.1f} s"
                      if times else ""))
        crashes = sum(o.crashes for o in done)
        if crashes:
            figures += f"; {crashes} exit(s) while coming back, started again"
        delayed = [o.delayed for o in done if o.delayed > 1]
        if delayed:
            figures += f"; {len(delayed)} waited for the previous broker fault (max {max(delayed):.0f} s)"
        rows.append(Row(f"recovery: {what}", figures, not stuck and len(done) == len(group),
                        [f"{o.fault.describe()} at +{o.fault.at:.0f} s: {o.note or 'not recovered'}"
                         for o in group if o.note or o.recovery is None][:5]))
    return rows


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def latency_row(attempts: Sequence[Attempt], faults: Sequence[Window]) -> Row:
    """Webhook answer times (the storefront simulator's view): overall, during faults, outside."""
    answered = [a for a in attempts if a.seconds is not None]
    during = [a for a in answered if any(w.start <= a.at <= w.end for w in faults)]
    calm = [a for a in answered if not any(w.start <= a.at <= w.end for w in faults)]

    def figures(group: list[Attempt]) -> str:
        seconds = [a.seconds or 0.0 for a in group]
        acked = sum(a.acknowledged for a in group)
        return (f"{len(group)} answered, {acked} 2xx, p50 {percentile(seconds, 0.5) * 1000:.0f} ms, "
                f"p99 {percentile(seconds, 0.99) * 1000:.0f} ms")

    return Row("webhooks", f"during faults: {figures(during)}; outside: {figures(calm)}")


@dataclass
class Report:
    """Everything a run ends with."""

    seed: int
    settings: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(row.ok is not False for row in self.rows)

    @property
    def violated(self) -> list[str]:
        return [row.name for row in self.rows if row.ok is False]

    def render(self) -> str:
        """The table for people."""
        width = max(len(r.name) for r in self.rows) if self.rows else 10
        lines = [f"{'invariant':{width}}  verdict  figures"]
        for row in self.rows:
            verdict = "-" if row.ok is None else "ok" if row.ok else "FAILED"
            lines.append(f"{row.name:{width}}  {verdict:7}  {row.figures}")
            lines += [f"{'':{width}}           e.g. {example}" for example in row.examples]
        took = ", ".join(f"{k} {v:.0f} s" for k, v in self.durations.items())
        lines.append(f"seed {self.seed}; {took}")
        lines.append("result: " + ("every invariant held" if self.ok else
                                   "VIOLATED: " + ", ".join(self.violated)))
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({
            "ok": self.ok, "seed": self.seed, "settings": self.settings, "durations": self.durations,
            "violated": self.violated, "rows": [asdict(r) for r in self.rows],
            "faults": [{"fault": asdict(o.fault), "started_at": o.started_at, "ended_at": o.ended_at,
                        "recovered_at": o.recovered_at, "recovery": o.recovery, "delayed": o.delayed,
                        "note": o.note} for o in self.outcomes],
        }, indent=2, ensure_ascii=False)
