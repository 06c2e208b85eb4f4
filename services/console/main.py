"""``ecombus run console``: the service as declared in ``wiring.py``, run by :mod:`bus.assembly`."""

from bus.assembly import entry_point
from services.console.wiring import DEFINITION

run = entry_point(DEFINITION)
