"""The expression language: what it computes, what it refuses, which fields it reads."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bus.errors import ConfigError, PermanentError
from services.router.expressions import ExpressionError, InvalidExpression, compile_expression

ORDER = {"currency": "USD", "order_number": "#1042",
         "customer": {"first_name": "花子", "last_name": "佐藤", "email": None},
         "totals": {"total": {"shop": {"amount": Decimal("612.0000")}}},
         "lines": [{"sku": "MATCHA-40G", "quantity": 2}],
         "placed_at": datetime(2025, 6, 3, 1, 12, tzinfo=UTC)}


@pytest.mark.parametrize(("source", "expected"), [
    ("totals.total.shop.amount > 500", True),
    ("concat(customer.last_name, ' ', customer.first_name)", "佐藤 花子"),
    ("replace(order_number, '#', '')", "1042"),
    ("lines[0].sku", "MATCHA-40G"),
    ("lines[5].sku", None),
    ("customer.email.domain", None),
    ("coalesce(customer.email, 'none')", "none"),
    ("money(totals.total.shop.amount, currency)", "612.00"),
    ("money(decimal('2650.4'), 'JPY')", "2650"),
    ("money(decimal('1.2345'), 'KWD')", "1.235"),
    ("round(decimal('2.345'), 2)", Decimal("2.35")),
    ("date(placed_at)", "2025-06-03"),
    ("int(' 120 ') - int('4')", 116),
    ("get({'shopify': 'SHOP'}, 'woocommerce', 'OTHER')", "OTHER"),
    ("'JP' in ('JP', 'CN') and not false", True),
    ("upper(null)", None),
    ("len(lines) if lines is not None else 0", 1),
    ("headers['file.name']", "stock.csv"),
    ("key", "k1"),
])
def test_evaluates(source: str, expected: object) -> None:
    assert compile_expression(source)(ORDER, {"file.name": "stock.csv"}, "k1") == expected


@pytest.mark.parametrize("source", [
    "__import__('os').system('true')", "open('/etc/passwd')", "customer.__class__", "x._private",
    "customer.email.upper()", "[c for c in lines]", "lambda: 1", "(y := 1)", "f'{currency}'",
    "lines[0:1]", "upper", "eval('1')", "concat(sep='')", "",
])
def test_refuses_everything_outside_the_language(source: str) -> None:
    with pytest.raises(InvalidExpression) as refused:
        compile_expression(source)
    assert isinstance(refused.value, ConfigError), "a bad routes file is refused at load"
    assert not isinstance(refused.value, PermanentError)


def test_reports_the_paths_it_reads_at_their_ends() -> None:
    expr = compile_expression("money(lines[0].unit_price.shop.amount, currency) if headers['x'] else key")
    assert expr.paths == {("lines", "[]", "unit_price", "shop", "amount"), ("currency",)}


def test_run_time_errors_name_the_expression() -> None:
    with pytest.raises(ExpressionError, match="int") as failed:
        compile_expression("int(customer.first_name)")(ORDER)
    assert isinstance(failed.value, PermanentError), "a value it cannot work on dead-letters the input"
    assert "花子" not in str(failed.value), "error messages never quote personal data"
    with pytest.raises(ExpressionError, match="currency"):
        compile_expression("currency + 1")(ORDER)
