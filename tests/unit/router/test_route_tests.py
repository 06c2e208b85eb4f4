"""``routes test`` on the shipped routes, and that a wrong expectation fails."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bus.tools.cli import main
from services.router.route_tests import companion_tests_file, run_tests
from services.router.routes import DEFAULT_ROUTES_FILE


def test_the_shipped_routes_pass_and_every_branch_is_exercised() -> None:
    report = run_tests(DEFAULT_ROUTES_FILE, environ={})
    assert report.failed == []
    assert len(report.passed) >= 9
    assert report.unexercised == []


def test_a_wrong_expectation_fails_and_an_untested_branch_is_reported(tmp_path: Path) -> None:
    text = companion_tests_file(DEFAULT_ROUTES_FILE).read_text(encoding="utf-8")
    broken = text.replace("available: 116", "available: 117")
    start = broken.index("  - name: an order of exactly 500")
    broken = broken[:start] + broken[broken.index("\n  # ---", start) + 1:]  # that test alone
    tests = tmp_path / "routes.tests.yaml"
    tests.write_text(broken, encoding="utf-8")
    report = run_tests(DEFAULT_ROUTES_FILE, tests, environ={})
    assert [name for name, _ in report.failed] == ["a stock row becomes a StockLevelChanged keyed by SKU"]
    assert "value.available: expected 117, got 116" in report.failed[0][1]
    assert report.unexercised == ["order-review: order-value/regular"]
    result = CliRunner().invoke(main, ["routes", "test", str(DEFAULT_ROUTES_FILE), "--tests", str(tests)])
    assert result.exit_code == 1
    assert "FAIL  a stock row becomes" in result.output
    assert "branch not exercised by any test: order-review: order-value/regular" in result.output


def test_routes_check_names_the_field_of_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "routes.yaml"
    broken.write_text(DEFAULT_ROUTES_FILE.read_text(encoding="utf-8").replace(
        "line.unit_price.shop.amount", "line.unit_price.shop.amout"), encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(main, ["routes", "check", str(DEFAULT_ROUTES_FILE)])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(main, ["routes", "check", str(broken)])
    assert bad.exit_code == 1
    assert ("route 'orders-to-erp-csv', step 'erp-row': field 'line.unit_price.shop.amout' does not exist"
            in bad.output)
