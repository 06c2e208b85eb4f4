"""The routes' expression language: a safe subset of Python expressions, compiled once at load.

Expressions appear in routes wherever a value is computed or tested (``filter``, ``choice``,
``map``, ``dedupe`` keys, ``aggregate`` keys, ``set_headers``, ``enrich`` paths, kafka keys).
They are parsed with :mod:`ast` and checked against a strict whitelist; nothing from the routes
file is ever ``eval``-ed as arbitrary Python, and a bad expression fails at load with the reason.

Grammar (Python syntax, these node types only)::

    literals      'text'  12  3.5  true/false (True/False)  null (None)  [a, b]  (a, b)  {'k': v}
    names         a top-level field of the message body: sku, order_id, totals
                  headers (the message headers), key (the record key)
    access        totals.total.shop.amount   lines[0].sku   headers['file.name']
                  (null-safe: a missing field or a step through null gives null)
    arithmetic    + - * / // %  and unary -
    comparisons   == != < <= > >=  in  not in  is None  is not None
    boolean       and  or  not      conditional  a if test else b
    calls         the functions in FUNCTIONS, e.g. upper(customer.last_name)

The checked tree is compiled into one Python function whose globals hold no builtins, only the
null-safe field accessor and the functions below. Names starting with ``_`` are refused, and
so is any other node type (lambda, comprehension, attribute calls such as ``x.upper()``,
f-strings, walrus...) and any call of an unknown function.

Errors (:mod:`bus.errors`): a bad expression is an :class:`~bus.errors.InvalidExpression` (a
ConfigError, found when the routes file is loaded); an expression failing on a message's values
is an :class:`~bus.errors.ExpressionError` (permanent: the input is dead-lettered).

Functions: ``upper lower strip concat coalesce len str int decimal round money date
timestamp now replace split join get``; see :data:`FUNCTIONS`. Money stays exact (``decimal``
and ``money`` work on :class:`~decimal.Decimal`).

The compiled :class:`Expression` also reports the field paths it reads (:attr:`Expression.paths`),
which ``routes check`` verifies against the source topic's Avro schema and the router uses to
decode with a projected reader schema.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

from bus.errors import ExpressionError, InvalidExpression
from services.router.functions import FUNCTIONS

RESERVED_NAMES = frozenset({"headers", "key"})
"""Names that do not resolve to body fields."""

Path = tuple[str, ...]


_ALLOWED = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.Attribute, ast.Subscript, ast.List,
    ast.Tuple, ast.Dict, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.USub, ast.UAdd, ast.Not,
    ast.And, ast.Or, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.Is, ast.IsNot,
)
_CONSTANT_NAMES = {"true": True, "false": False, "null": None, "True": True, "False": False,
                   "None": None}


def _field(value: Any, name: Any) -> Any:
    """Null-safe field access on decoded records (dicts) and lists."""
    if value.__class__ is dict:  # decoded records: the hot path
        return value.get(name)
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value.get(name)
    if isinstance(value, list | tuple) and isinstance(name, int):
        return value[name] if -len(value) <= name < len(value) else None
    raise ExpressionError(f"cannot read {name!r} of a {type(value).__name__}")


class _Rewriter(ast.NodeTransformer):
    """Checks the whitelist and turns field access into calls of the null-safe ``_f``."""

    def __init__(self) -> None:
        self.paths: set[Path] = set()
        self._inner: set[int] = set()

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if not isinstance(node, _ALLOWED):
            raise InvalidExpression(f"{type(node).__name__} is not allowed in expressions")
        return super().generic_visit(node)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id.startswith("_"):
            raise InvalidExpression(f"name {node.id!r} is not allowed")
        if node.id in _CONSTANT_NAMES:
            return ast.copy_location(ast.Constant(_CONSTANT_NAMES[node.id]), node)
        if node.id in FUNCTIONS:
            raise InvalidExpression(f"{node.id} is a function: call it, e.g. {node.id}(...)")
        if node.id in RESERVED_NAMES:
            return ast.copy_location(ast.Name("_" + node.id, ast.Load()), node)
        self._record(node)
        return _call("_f", ast.Name("_body", ast.Load()), ast.Constant(node.id), like=node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if node.attr.startswith("_"):
            raise InvalidExpression(f"field {node.attr!r} is not allowed")
        self._record(node)
        return _call("_f", self.visit(node.value), ast.Constant(node.attr), like=node)

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        if isinstance(node.slice, ast.Slice):
            raise InvalidExpression("slices are not allowed")
        self._record(node)
        return _call("_f", self.visit(node.value), self.visit(node.slice), like=node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            what = ast.unparse(node.func)
            raise InvalidExpression(f"unknown function {what!r}; known: {', '.join(sorted(FUNCTIONS))}")
        if node.keywords:
            raise InvalidExpression(f"{node.func.id}(): keyword arguments are not allowed")
        args = [self.visit(a) for a in node.args]
        return _call(f"_fn_{node.func.id}", *args, like=node)

    def _record(self, node: ast.expr) -> None:
        """Record the path a chain reads, once, at its outermost node."""
        if id(node) in self._inner:
            return
        inner = getattr(node, "value", None)
        while isinstance(inner, ast.Attribute | ast.Subscript):
            self._inner.add(id(inner))
            inner = inner.value
        if isinstance(inner, ast.Name):
            self._inner.add(id(inner))
        path = _path_of(node)
        if path:
            self.paths.add(path)


def _path_of(node: ast.expr) -> Path | None:
    """The body field path a chain of names/attributes/constant subscripts reads, if any."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, int):
                parts.append("[]")
            elif isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                parts.append(node.slice.value)
            else:
                parts.append("[]")
            node = node.value
        elif isinstance(node, ast.Name):
            if node.id in RESERVED_NAMES or node.id in _CONSTANT_NAMES:
                return None
            return (node.id, *reversed(parts))
        else:
            return None


def _call(name: str, *args: ast.expr, like: ast.AST) -> ast.Call:
    return ast.copy_location(ast.Call(ast.Name(name, ast.Load()), list(args), []), like)


_GLOBALS: dict[str, Any] = {"__builtins__": {}, "_f": _field,
                            **{f"_fn_{name}": fn for name, fn in FUNCTIONS.items()}}


@dataclass(frozen=True)
class Expression:
    """A compiled expression.

    Attributes:
        source: the text as written in the routes file.
        paths: the body field paths it reads, e.g. ``("totals", "total", "shop", "amount")``;
            ``[]`` stands for any list index. A path reads the whole value at its end.
    """

    source: str
    paths: frozenset[Path]
    _fn: Callable[[Any, Any, Any], Any]
    node: ast.expr = field(compare=False, repr=False, default_factory=lambda: ast.Constant(None))

    def __call__(self, body: Any, headers: Mapping[str, str] | None = None, key: Any = None) -> Any:
        """Evaluate on a message.

        Raises:
            ExpressionError: a value it cannot work on (permanent: the input is dead-lettered).
        """
        try:
            return self._fn(body, headers or {}, key)
        except ExpressionError:
            raise
        except (TypeError, ValueError, ArithmeticError, IndexError, KeyError) as exc:
            raise ExpressionError(f"{self.source!r}: {type(exc).__name__}: {exc}") from exc


def compile_expression(source: str | int | float | bool | None) -> Expression:
    """Parse, check and compile an expression (numbers and booleans are literals).

    Raises:
        InvalidExpression: a syntax error or a construct outside the language, with the reason
            (a ConfigError: the routes file is refused at load).
    """
    text = source if isinstance(source, str) else repr(source)
    if not text.strip():
        raise InvalidExpression("empty expression")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise InvalidExpression(f"syntax error in {text!r}: {exc.msg}") from exc
    rewriter = _Rewriter()
    try:
        body = rewriter.visit(tree)
    except RecursionError as exc:
        raise InvalidExpression(f"expression too deeply nested: {text[:60]!r}") from exc
    lam = ast.Expression(ast.Lambda(
        ast.arguments(posonlyargs=[], args=[ast.arg("_body"), ast.arg("_headers"), ast.arg("_key")],
                      kwonlyargs=[], kw_defaults=[], defaults=[]), body.body))
    ast.fix_missing_locations(lam)
    fn = eval(compile(lam, f"<route expression {text[:40]!r}>", "eval"), dict(_GLOBALS))
    return Expression(text, frozenset(rewriter.paths), fn, body.body)


def compile_record(fields: Mapping[str, Expression]) -> Callable[[Any, Any, Any], dict[str, Any]]:
    """One function building a whole record from its fields' expressions (a ``map`` step).

    Dotted names nest (``meta.event_id``). The checked expression trees are combined into one
    dict display and compiled once, so a map costs one call per message, not one per field.

    Raises:
        InvalidExpression: a field is set both as a value and as the parent of another.
    """
    tree: dict[str, Any] = {}
    for name, expr in fields.items():
        *parents, leaf = name.split(".")
        level = tree
        for part in parents:
            level = level.setdefault(part, {})
            if not isinstance(level, dict):
                raise InvalidExpression(f"field {name!r}: {part!r} is also set as a value")
        level[leaf] = expr.node

    def display(level: dict[str, Any]) -> ast.Dict:
        return ast.Dict([ast.Constant(k) for k in level],
                        [display(v) if isinstance(v, dict) else v for v in level.values()])

    lam = ast.Expression(ast.Lambda(
        ast.arguments(posonlyargs=[], args=[ast.arg("_body"), ast.arg("_headers"), ast.arg("_key")],
                      kwonlyargs=[], kw_defaults=[], defaults=[]), display(tree)))
    ast.fix_missing_locations(lam)
    built: Callable[[Any, Any, Any], dict[str, Any]] = eval(compile(lam, "<route map>", "eval"),
                                                            dict(_GLOBALS))
    return built


Expr = Annotated[Expression, BeforeValidator(lambda v: v if isinstance(v, Expression)
                                             else compile_expression(v)),
                 PlainSerializer(lambda e: e.source)]
"""A pydantic field holding an expression, compiled when the routes file is loaded."""

__all__ = ["FUNCTIONS", "Expr", "Expression", "ExpressionError", "InvalidExpression", "compile_expression",
           "compile_record"]
