"""Mutation checks: with a deliberate bug (simulators/chaos/mutations.py), a small targeted chaos run
must fail, on the invariant the bug breaks.

Each run is one broker, 75 s at 4 orders/s, and the few faults that expose its bug (instead of the
seeded schedule): a kill of the service the bug is in, a storm where the bug is about failing
calls. ``make chaos-mutations`` runs them (about 30 minutes); docs/operations.md has the outcomes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.chaos.mutations import MUTATIONS
from tests.chaos.run import chaos

RUN = ("--brokers", "1", "--duration", "75", "--rate", "4", "--settle-timeout", "60", "--seed", "1")
FAULTS: dict[str, tuple[str, ...]] = {
    "edge-acks-before-store": ("kill:order-capture-1@25", "kill:order-capture-2@40",
                               "kill:order-capture-1@55"),
    "stage-skips-dedupe": ("kill:order-capture-1@30",),
    "hold-ignored": ("kill:inventory-sync@30",),
    "restore-parks-superseded": ("kill:inventory-sync@14", "kill:inventory-sync@22",
                                 "kill:inventory-sync@45"),
    "hold-double-counts": ("kill:inventory-sync@30",),
    "crm-forgets-state": ("kill:crm-updater@30",),
    "file-out-forgets-redelivered": ("kill:router@25", "kill:router@50"),
    "cxml-new-payload-id": ("kill:router@25", "kill:router@50"),
    "commit-before-ack": ("storm:erp:slow@15+40", "kill:router@35"),
    "tracker-marks-before-push": ("storm:storefront:5xx@20+40",),
    "sku-map-loses-a-row": ("kill:inventory-sync@30",),
    "statuses-compared-by-name": ("kill:shipping-tracker-1@30",),
}
"""Mutation → the faults of its run (``--fault``)."""


def test_every_mutation_has_its_run() -> None:
    assert set(FAULTS) == set(MUTATIONS)


@pytest.mark.mutation
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_the_mutation_makes_the_run_fail_on_its_invariant(name: str, tmp_path: Path) -> None:
    faults = [arg for fault in FAULTS[name] for arg in ("--fault", fault)]
    status, report, output = chaos(tmp_path, *RUN, *faults, "--mutation", name, timeout=540)
    assert report, f"the run did not start:\n{output[-3000:]}"
    assert status == 1 and not report["ok"], f"{name} went unnoticed:\n{output[-4000:]}"
    assert MUTATIONS[name].breaks in report["violated"], (name, report["violated"])
