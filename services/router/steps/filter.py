"""``filter``: keep the messages for which an expression is true, drop (and count) the others.

Example: ``- filter: "currency == 'USD' and financial_status == 'PAID'"``
"""

from __future__ import annotations

from typing import ClassVar

from services.router.message import Message
from services.router.steps.base import Expr, Flow, Step, StepConfig, register


@register("filter")
class Filter(Step):
    """Drop messages whose ``when`` is falsy."""

    shorthand: ClassVar[str] = "when"

    class Config(StepConfig):
        when: Expr

    def process(self, msg: Message, flow: Flow) -> list[Message]:
        if self.config.when(msg.body, msg.headers, msg.key):
            return [msg]
        flow.filtered(self)
        return []
