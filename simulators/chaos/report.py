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
    return [Window(o.started_at, o.recovered_at or o.ended_at or o.started_at, _kind(o)) for o in outcomes]


def _kind(outcome: Outcome) -> str:
    fault = outcome.fault
    if fault.kind in ("broker-kill", "broker-pause"):
        return "broker"
    return "edge" if fault.kind == "kill" and fault.target == "order-capture" else "other"


def fault_rows(outcomes: Sequence[Outcome]) -> list[Row]:
    """Per kind of fault and target: how many, how many recovered, recovery median and max.

    Times are figures, not verdicts: faults overlap (a broker fault moves the group coordinators,
    which restarts the wait for a dead member), so one recovery may take long. What must hold is
    that the bus is whole again when it settles (the ``whole again`` row); a fault that could not
    be done at all fails its row."""
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
        ready = [o.ready_at - o.ended_at for o in done if o.ready_at is not None and o.ended_at is not None]
        if ready:
            figures += f" (/readyz 200 after median {statistics.median(ready):.1f} s, max {max(ready):.1f} s)"
        crashes = sum(o.crashes for o in done)
        if crashes:
            figures += f"; {crashes} exit(s) while coming back, started again"
        delayed = [o.delayed for o in done if o.delayed > 1]
        if delayed:
            figures += f"; {len(delayed)} waited for the previous broker fault (max {max(delayed):.0f} s)"
        if stuck:
            figures += f"; {len(stuck)} not within the bound (the settling waits for them)"
        rows.append(Row(f"recovery: {what}", figures, None if len(done) == len(group) else False,
                        [f"{o.fault.describe()} at +{o.fault.at:.0f} s: {o.note or 'not recovered in time'}"
                         for o in group if o.note or o.recovery is None][:5]))
    return rows


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def latency_rows(attempts: Sequence[Attempt], faults: Sequence[Window]) -> list[Row]:
    """Webhook answer times (the storefront simulator's view), apart for each kind of fault: during
    broker faults, during kills of order-capture replicas (the edge), during any other fault only,
    and with no fault at all."""
    groups: dict[str, list[Attempt]] = {"broker": [], "edge": [], "other": [], "calm": []}
    for attempt in attempts:
        kinds = {w.kind for w in faults if w.start <= attempt.at <= w.end}
        kind = next((k for k in ("broker", "edge", "other") if k in kinds), "calm")
        groups[kind].append(attempt)
    labels = {"broker": "during broker faults", "edge": "during order-capture kills",
              "other": "during other faults only", "calm": "with no fault"}
    rows = []
    for kind, group in groups.items():
        answered = [a.seconds for a in group if a.seconds is not None]
        acked = sum(a.acknowledged for a in group)
        p50, p99 = (percentile(answered, share) * 1000 for share in (0.5, 0.99))
        rows.append(Row(f"webhooks {labels[kind]}",
                        f"{len(group)} deliveries, {acked} 2xx, {len(group) - len(answered)} unanswered; "
                        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms"))
    return rows


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
