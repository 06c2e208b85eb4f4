"""The chaos run's fault schedule: seeded, spread, one broker at a time, storms rotating."""

from __future__ import annotations

import itertools

import pytest

from bus.errors import ConfigError
from simulators.chaos.plan import (
    STORM_MODES,
    STORM_TARGETS,
    Fault,
    FaultCounts,
    Timing,
    parse_fault,
    plan_faults,
)

REPLICAS = {"order-capture": 2, "shipping-tracker": 2, "router": 1, "inventory-sync": 1, "crm-updater": 1}


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    counts = FaultCounts(kills_per_service=5, broker_kills=5, broker_pauses=5, storms=6)
    first = plan_faults(7, 300, counts, REPLICAS, brokers=3)
    assert first == plan_faults(7, 300, counts, REPLICAS, brokers=3)
    assert first != plan_faults(8, 300, counts, REPLICAS, brokers=3)


def test_every_kind_is_counted_and_falls_between_warm_up_and_cool_down() -> None:
    counts = FaultCounts(kills_per_service=5, broker_kills=5, broker_pauses=5, storms=6)
    faults = plan_faults(3, 300, counts, REPLICAS, brokers=3)
    kills = [f for f in faults if f.kind == "kill"]
    assert {s: sum(f.target == s for f in kills) for s in REPLICAS} == dict.fromkeys(REPLICAS, 5)
    assert sum(f.kind == "broker-kill" for f in faults) == 5
    assert sum(f.kind == "broker-pause" for f in faults) == 5
    assert sum(f.kind == "storm" for f in faults) == 6
    timing = Timing()
    assert all(timing.warmup <= f.at < 300 - timing.cooldown for f in faults)
    assert [f.at for f in faults] == sorted(f.at for f in faults)
    assert all(1 <= f.replica <= REPLICAS[f.target] for f in kills)
    assert all(1 <= f.replica <= 3 for f in faults if f.target == "broker")


def test_broker_faults_get_a_slot_each_and_a_run_too_short_for_them_is_refused() -> None:
    counts = FaultCounts(kills_per_service=0, broker_kills=5, broker_pauses=5, storms=0)
    brokers = plan_faults(1, 300, counts, REPLICAS, brokers=3)
    gaps = [b.at - a.at for a, b in itertools.pairwise(brokers)]
    assert min(gaps) >= Timing().broker_slot * 0.7 - 0.1  # a fault falls in the first 30 % of its slot
    assert {f.seconds for f in brokers if f.kind == "broker-pause"} == {Timing().pause}
    with pytest.raises(ConfigError, match="broker faults need at least"):
        plan_faults(1, 120, counts, REPLICAS, brokers=3)
    with pytest.raises(ConfigError, match="--duration"):
        plan_faults(1, 30, FaultCounts(), REPLICAS, brokers=3)


def test_storms_rotate_over_the_simulators_and_each_meets_two_modes_in_six() -> None:
    storms = plan_faults(5, 300, FaultCounts(0, 0, 0, 6), REPLICAS, brokers=3)
    assert {f.target for f in storms} == set(STORM_TARGETS)
    assert {f.mode for f in storms} == set(STORM_MODES)
    for target in STORM_TARGETS:
        assert len({f.mode for f in storms if f.target == target}) == 2


@pytest.mark.parametrize(("text", "fault"), [
    ("kill:router@20", Fault(20, "kill", "router", 1, 1.0)),
    ("kill:order-capture-2@30+3", Fault(30, "kill", "order-capture", 2, 3.0)),
    ("kill:inventory-sync@5", Fault(5, "kill", "inventory-sync", 1, 1.0)),
    ("broker-kill:2@40+5", Fault(40, "broker-kill", "broker", 2, 5.0)),
    ("broker-pause:1@60", Fault(60, "broker-pause", "broker", 1, Timing().pause)),
    ("storm:erp:slow@10+20", Fault(10, "storm", "erp", 1, 20.0, "slow")),
    ("storm:crm@10", Fault(10, "storm", "crm", 1, 10.0, "5xx")),
])
def test_explicit_faults_are_read(text: str, fault: Fault) -> None:
    assert parse_fault(text, tuple(REPLICAS)) == fault


@pytest.mark.parametrize("text", ["kill:router", "explode:router@1", "storm:bank@3", "kill:nobody@3",
                                  "broker-kill:two@3", "storm:erp:sunny@1"])
def test_a_wrong_explicit_fault_says_the_form(text: str) -> None:
    with pytest.raises(ConfigError, match="--fault"):
        parse_fault(text, tuple(REPLICAS))
