"""``python -m bus.tools.cli`` is the ``ecombus`` command (used to start background processes)."""

from bus.tools.cli import main

main()
