"""``ecombus run crm-updater``: the service as declared in ``wiring.py``, run by :mod:`bus.assembly`."""

from bus.assembly import entry_point
from services.crm_updater.wiring import DEFINITION

run = entry_point(DEFINITION)
