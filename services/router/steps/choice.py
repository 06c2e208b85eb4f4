"""``choice``: content-based routing: the first branch whose ``when`` is true takes the message.

Example::

    - choice:
        name: order-value
        branches:
          - name: high-value
            when: "totals.total.shop.amount > 500"     # in the shop's currency
            steps: [...]                               # optional
            to: [{kafka: {topic: orders.review.v1}}]   # deliver here and stop
        otherwise: {drop: true}                        # or steps/to; absent: continue unchanged

A branch with ``to`` delivers there and the message stops; a branch without ``to`` continues
down the route after the choice; ``drop: true`` stops it (counted as filtered). The branch taken
is recorded (route tests check it and report branches no test exercised).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.router.endpoints.base import Endpoint
from services.router.expressions import Expression
from services.router.message import Message
from services.router.steps.base import BuildContext, Expr, Flow, Step, StepConfig, register

OTHERWISE = "otherwise"


class BranchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    when: Expr
    steps: list[Any] = []
    to: list[Any] = []
    drop: bool = False


class OtherwiseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = OTHERWISE
    steps: list[Any] = []
    to: list[Any] = []
    drop: bool = False


class _Branch:
    def __init__(self, name: str, when: Expression | None, steps: list[Step], to: list[Endpoint],
                 drop: bool) -> None:
        self.name, self.when, self.steps, self.to, self.drop = name, when, steps, to, drop


@register("choice")
class Choice(Step):
    """Route each message down the first matching branch."""

    class Config(StepConfig):
        branches: list[BranchConfig] = Field(min_length=1)
        otherwise: OtherwiseConfig | None = None

    def __init__(self, name: str, config: Any, build: BuildContext) -> None:
        super().__init__(name, config, build)
        from services.router.components import parse_endpoints, parse_steps  # (they import steps)

        where = f"choice {name!r}"
        self.branches = [
            _Branch(b.name, b.when, parse_steps(b.steps, f"{where}, branch {b.name!r}", build),
                    parse_endpoints(b.to, f"{where}, branch {b.name!r}", build), b.drop)
            for b in config.branches]
        other = config.otherwise or OtherwiseConfig()
        self.branches.append(_Branch(other.name, None,
                                     parse_steps(other.steps, f"{where}, branch {other.name!r}", build),
                                     parse_endpoints(other.to, f"{where}, branch {other.name!r}", build),
                                     other.drop))
        names = [b.name for b in self.branches]
        if len(set(names)) != len(names):
            raise ValueError(f"branch names must be unique: {', '.join(names)}")

    def process(self, msg: Message, flow: Flow) -> list[Message]:
        for branch in self.branches:
            if branch.when is None or branch.when(msg.body, msg.headers, msg.key):
                flow.took(f"{self.name}/{branch.name}")
                out = flow.run(branch.steps, [msg])
                if branch.drop:
                    flow.filtered(self)
                    return []
                if branch.to:
                    for item in out:
                        flow.deliver(item, branch.to)
                    return []
                return out
        return []  # unreachable: the last branch always matches

    def reads(self) -> list:
        return [b.when for b in self.branches if b.when is not None]

    def substeps(self) -> list[tuple[str, list[Step], list[Endpoint]]]:
        return [(b.name, b.steps, b.to) for b in self.branches]
