"""Alert rules: promtool accepts them, its unit tests prove each alert fires and stays silent
when it should, they tell the on-call what to run, and they select only metrics that exist."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from bus.tools.deploy.monitoring import ALERTS_FILE, alert_expressions, alert_groups
from bus.tools.deploy.series import exposed_series, unknown_metrics

ALERTS_TESTS = (ALERTS_FILE.with_name("alerts.test.yaml"), ALERTS_FILE.with_name("alerts.business.test.yaml"))
REQUIRED = {"EcombusConsumerLagHigh", "EcombusConsumerLagNotShrinking", "EcombusConsumerLagSecondsHigh",
            "EcombusDeadLetters", "EcombusProducerDeliveryFailures", "EcombusTargetDown",
            "EcombusProcessingLoopDown", "EcombusNoNewOrders"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed: `make tools` installs it (Debian package prometheus)")
    return subprocess.run([found, *args], capture_output=True, text=True, timeout=60, cwd=ALERTS_FILE.parent)


def alerts() -> dict[str, dict[str, object]]:
    return {rule["alert"]: rule for group in alert_groups() for rule in group["rules"]}


def test_promtool_accepts_the_rules() -> None:
    done = promtool("check", "rules", ALERTS_FILE.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in done.stdout


def test_promtool_unit_tests_pass() -> None:
    done = promtool("test", "rules", *(path.name for path in ALERTS_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    tests = [test for path in ALERTS_TESTS
             for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]]
    fired, silent = set(), set()
    for test in tests:
        for case in test["alert_rule_test"]:
            (fired if case.get("exp_alerts") else silent).add(case["alertname"])
    assert fired == silent == set(alerts())


def test_the_alerts_the_sres_asked_for_exist() -> None:
    assert set(alerts()) >= REQUIRED


def test_annotations_say_what_to_run() -> None:
    commands = ("ecombus lag", "ecombus dlq list", "ecombus trace", "kubectl", "ecombus tail")
    for name, rule in alerts().items():
        annotations = rule["annotations"]
        assert isinstance(annotations, dict) and annotations["summary"], name
        assert any(c in annotations["description"] for c in commands), name
    dead_letters = alerts()["EcombusDeadLetters"]["annotations"]
    assert isinstance(dead_letters, dict)
    assert "ecombus dlq list {{ $labels.service }}" in dead_letters["description"]


def test_alerts_select_only_metrics_the_code_exposes() -> None:
    assert unknown_metrics(alert_expressions(), exposed_series()) == {}
