"""``python -m bus.cli`` is the ``ecombus`` command (used to start background processes)."""

from bus.cli import main

main()
