"""``ecombus run inventory-sync``: the service as declared in ``wiring.py``, run by :mod:`bus.assembly`."""

from bus.assembly import entry_point
from services.inventory_sync.wiring import DEFINITION

run = entry_point(DEFINITION)
