"""``ecombus run order-capture``: the service as declared in ``wiring.py``, run by :mod:`bus.assembly`."""

from bus.assembly import entry_point
from services.order_capture.wiring import DEFINITION

run = entry_point(DEFINITION)
