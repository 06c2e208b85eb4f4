"""``set_headers``: set message headers (and optionally the key) from expressions.

Example::

    - set_headers:
        headers: {ecombus.review.reason: "'total over 500'"}
        key: order_id
"""

from __future__ import annotations

from services.router.message import Message
from services.router.steps.base import Expr, Flow, Step, StepConfig, register


@register("set_headers")
class SetHeaders(Step):
    """Headers are strings: values are converted with ``str``; null removes the header."""

    class Config(StepConfig):
        headers: dict[str, Expr] = {}
        key: Expr | None = None

    def process(self, msg: Message, flow: Flow) -> list[Message]:
        headers = dict(msg.headers)
        for name, expr in self.config.headers.items():
            value = expr(msg.body, msg.headers, msg.key)
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = str(value)
        key = msg.key
        if self.config.key is not None:
            value = self.config.key(msg.body, msg.headers, msg.key)
            key = None if value is None else str(value)
        return [msg.derive(headers=headers, key=key)]

    def reads(self) -> list:
        return [*self.config.headers.values(), *([self.config.key] if self.config.key else [])]
