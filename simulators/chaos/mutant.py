"""``python -m simulators.chaos.mutant MUTATION run SERVICE``: a service with a deliberate bug.

Applies the named :class:`~simulators.chaos.mutations.Mutation` to this process, then runs the
rest of the command line as ``ecombus`` would (``run SERVICE``). Only the chaos runner starts it,
for the mutation checks.
"""

from __future__ import annotations

import sys

from simulators.chaos.mutations import MUTATIONS


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in MUTATIONS:
        raise SystemExit(f"usage: python -m simulators.chaos.mutant {{{','.join(sorted(MUTATIONS))}}} "
                         "run SERVICE")
    MUTATIONS[argv[0]].apply()
    from bus.tools.cli import main as ecombus

    sys.argv = ["ecombus", *argv[1:]]
    ecombus()


if __name__ == "__main__":
    main(sys.argv[1:])
