"""Route steps, one module per kind, registered by name in :data:`~services.router.steps.base.STEPS`.

``filter``, ``choice``, ``map``, ``enrich``, ``split``, ``aggregate``, ``dedupe``, ``set_headers``.
"""

from services.router.steps import (  # noqa: F401  (each module registers its kind)
    aggregate,
    choice,
    dedupe,
    enrich,
    filter,
    map,
    set_headers,
    split,
)
from services.router.steps.base import STEPS, Step, StepConfig

__all__ = ["STEPS", "Step", "StepConfig"]
