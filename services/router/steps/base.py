"""What every step is, and the one registry of step kinds (name → config model + class).

A step kind is a :class:`Step` subclass with a pydantic ``Config`` model beside it, registered
by name with :func:`register` (the Redpanda Connect way: the spec next to the code)::

    @register("filter")
    class Filter(Step):
        class Config(StepConfig):
            when: Expr
        def process(self, msg, flow): ...

``process`` takes one message and returns the messages that continue down the route: none
(filtered, or delivered elsewhere by a choice branch), the same one, a changed one, or several
(split). It raises :class:`~bus.errors.TransientError` to have the input retried and anything
else to have it dead-lettered; the route adds its name and the step's to the error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from services.router.build import BuildContext
from services.router.expressions import Expr, Expression
from services.router.message import Message, Origin
from services.router.schema_paths import Shape

if TYPE_CHECKING:
    from services.router.endpoints.base import Endpoint

class StepConfig(BaseModel):
    """Base of every step's configuration: unknown keys are errors; ``name`` is optional."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str | None = None


class Flow(Protocol):
    """The route a step runs in, as the step sees it."""

    route: str
    origin: Origin

    def run(self, steps: Sequence[Step], messages: list[Message]) -> list[Message]:
        """Run ``messages`` through ``steps`` (a choice branch); the ones that come out."""
        ...

    def deliver(self, message: Message, endpoints: Sequence[Endpoint]) -> None:
        """Send ``message`` to ``endpoints`` now."""
        ...

    def filtered(self, step: Step) -> None:
        """Count a message a step dropped."""
        ...

    def took(self, branch: str) -> None:
        """Record that a choice sent the message down ``branch`` (``<step>/<branch>``)."""
        ...

    def after_delivery(self, action: Callable[[], None]) -> None:
        """Run ``action`` once every output of the current input was delivered."""
        ...

    def after_failure(self, action: Callable[[], None]) -> None:
        """Run ``action`` if the current input fails in this route (it will be retried or
        dead-lettered: what a step reserved for it must be let go)."""
        ...


class Step:
    """One step of a route. Subclasses define ``Config`` and :meth:`process`."""

    kind: ClassVar[str] = ""
    Config: ClassVar[type[StepConfig]] = StepConfig

    def __init__(self, name: str, config: Any, build: BuildContext) -> None:
        self.name = name
        self.config = config
        self.build = build
        self.route = ""
        self.path = ""

    def bind(self, route: str, path: str = "") -> None:
        """Tell the step its route and branch path (``<choice>/<branch>/``, ``''`` on the main
        line); done when the route is built, before :meth:`start`. Steps with state of their own
        (``aggregate``) name it after both, so no two steps share it."""
        self.route, self.path = route, path

    def process(self, msg: Message, flow: Flow) -> list[Message]:
        raise NotImplementedError

    def reads(self) -> list[Expression]:
        """The expressions evaluated on the message as it reaches this step."""
        return [v for v in self.config.__dict__.values() if isinstance(v, Expression)]

    def after(self, shape: Shape | None) -> Shape | None:
        """The body's shape after this step (unchanged by default)."""
        return shape

    def substeps(self) -> list[tuple[str, list[Step], list[Endpoint]]]:
        """Nested (branch name, steps, endpoints) of a choice; none for other steps."""
        return []

    def start(self) -> None:
        """Connect or load state (called once before the first message)."""

    def close(self) -> None:
        """Release what :meth:`start` took."""


STEPS: dict[str, type[Step]] = {}
"""Every step kind by name."""


def register(kind: str) -> Callable[[type[Step]], type[Step]]:
    """Class decorator: make a step kind available to routes files under ``kind``."""

    def add(cls: type[Step]) -> type[Step]:
        cls.kind = kind
        STEPS[kind] = cls
        return cls

    return add


__all__ = ["STEPS", "BuildContext", "Expr", "Flow", "Step", "StepConfig", "register"]
