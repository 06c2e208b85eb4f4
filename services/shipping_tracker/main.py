"""``ecombus run shipping-tracker``: the service as declared in ``wiring.py``, run by :mod:`bus.assembly`."""

from bus.assembly import entry_point
from services.shipping_tracker.wiring import DEFINITION

run = entry_point(DEFINITION)
