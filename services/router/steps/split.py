"""``split``: one message per element of a list, e.g. one per order line.

Example: ``- split: {field: lines, as: line}``: each message's body is the original body with
``line`` set to one element (so later steps read ``line.sku`` beside ``customer.email``);
without ``as`` the body is the element itself. Headers ``split.index`` (0-based) and
``split.count`` are added. An empty list yields no message (counted as filtered).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from services.router.message import Message
from services.router.schema_paths import ITEM, Shape, shape_at, with_field
from services.router.steps.base import Expr, Flow, Step, StepConfig, register


@register("split")
class Split(Step):
    """Fan a list out into messages, in order."""

    shorthand: ClassVar[str] = "field"

    class Config(StepConfig):
        field: Expr
        as_: str | None = Field(None, alias="as", pattern=r"^[A-Za-z][A-Za-z0-9_]*$")

    def process(self, msg: Message, flow: Flow) -> list[Message]:
        items = self.config.field(msg.body, msg.headers, msg.key)
        if items is None or len(items) == 0:
            flow.filtered(self)
            return []
        name = self.config.as_
        out = []
        for index, item in enumerate(items):
            body: Any = {**msg.body, name: item} if name else item
            headers = {**msg.headers, "split.index": str(index), "split.count": str(len(items))}
            out.append(msg.derive(body=body, headers=headers))
        return out

    def after(self, shape: Shape | None) -> Shape | None:
        paths = sorted(self.config.field.paths)
        item = shape_at(shape, (*paths[0], ITEM)) if len(paths) == 1 else None
        return with_field(shape, self.config.as_, item) if self.config.as_ else item

    def source_alias(self) -> tuple[str, tuple[str, ...]] | None:
        """(new top-level name, the source path it stands for), for projected decoding."""
        paths = sorted(self.config.field.paths)
        if self.config.as_ and len(paths) == 1:
            return self.config.as_, (*paths[0], ITEM)
        return None
