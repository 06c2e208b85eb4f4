"""``map``: build a new body from expressions, or with a Python transform named by import path.

Example::

    - map:
        fields:                      # output field (dots make nested records) → expression
          meta.event_id: "concat('erp-order:', order_id)"
          External ID: "concat('SHOP-', replace(order_number, '#', ''))"
          Rate: "money(line.unit_price.shop.amount, currency)"
        merge: false                 # true: start from a copy of the body and add/replace fields

    - map: {python: "my_package.transforms:to_erp_row"}   # fn(body, headers) -> new body

Output fields keep the order written, which is the column order of CSV files. A Python
transform is imported when the routes are loaded (it must be importable) and runs first;
``fields`` then apply to its result.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from pydantic import field_validator, model_validator

from services.router.expressions import compile_record
from services.router.message import Message
from services.router.schema_paths import Shape, record_of
from services.router.steps.base import Expr, Flow, Step, StepConfig, register

Transform = Callable[[Any, dict[str, str]], Any]


def import_callable(path: str) -> Transform:
    """``package.module:function`` → the function. Raises ValueError naming what is missing."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ValueError(f"expected 'package.module:function', got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r}: {exc}") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"{module_name} has no function {attr!r}")
    return fn


@register("map")
class Map(Step):
    """Replace the body (or add to it) field by field."""

    class Config(StepConfig):
        fields: dict[str, Expr] = {}
        merge: bool = False
        python: str | None = None

        @field_validator("python")
        @classmethod
        def _importable(cls, value: str | None) -> str | None:
            if value is not None:
                import_callable(value)
            return value

        @model_validator(mode="after")
        def _something(self) -> Map.Config:
            if not self.fields and not self.python:
                raise ValueError("give 'fields' or 'python'")
            return self

    def __init__(self, name: str, config: Any, build: Any) -> None:
        super().__init__(name, config, build)
        self._transform = import_callable(config.python) if config.python else None
        self._flat = [(k, e) for k, e in config.fields.items() if "." not in k]
        self._nested = [(tuple(k.split(".")), e) for k, e in config.fields.items() if "." in k]
        self._record = compile_record(config.fields) if config.fields and not config.merge else None

    def process(self, msg: Message, flow: Flow) -> list[Message]:
        source = msg.body
        if self._transform is not None:
            source = self._transform(source, dict(msg.headers))
            if not self.config.fields:
                return [msg.derive(body=source)]
        if self._record is not None:
            try:
                return [msg.derive(body=self._record(source, msg.headers, msg.key))]
            except Exception:  # evaluated again below, field by field, to name the culprit
                pass
        return [msg.derive(body=self._fields(source, msg))]

    def _fields(self, source: Any, msg: Message) -> dict[str, Any]:
        headers, key = msg.headers, msg.key
        out: dict[str, Any] = dict(source) if self.config.merge else {}
        for name, expr in self._flat:
            out[name] = expr(source, headers, key)
        for path, expr in self._nested:
            target = out
            for part in path[:-1]:
                nested = target.get(part)
                if not isinstance(nested, dict):
                    nested = target[part] = {}
                elif self.config.merge and nested is source.get(part):
                    nested = target[part] = dict(nested)
                target = nested
            target[path[-1]] = expr(source, headers, key)
        return out

    def reads(self) -> list:
        return list(self.config.fields.values())

    def after(self, shape: Shape | None) -> Shape | None:
        if self._transform is not None:
            return None
        names = [k.split(".")[0] for k in self.config.fields]
        if self.config.merge:
            if shape is None or shape.kind != "record":
                return None
            merged = Shape("record", shape.name, dict(shape.fields))
            merged.fields.update(dict.fromkeys(names))
            return merged
        return record_of(names)

    @property
    def replaces_body(self) -> bool:
        """True when what follows reads only what this step wrote (projection stops here)."""
        return not self.config.merge and self._transform is None
