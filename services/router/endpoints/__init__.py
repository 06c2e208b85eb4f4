"""Route endpoints, one module per kind, registered by name in
:data:`~services.router.endpoints.base.ENDPOINTS`: ``kafka``, ``http_in``, ``http_out``,
``file_in``, ``file_out``.
"""

from services.router.endpoints import file_in, file_out, http_in, http_out, kafka  # noqa: F401
from services.router.endpoints.base import ENDPOINTS, Endpoint, EndpointConfig

__all__ = ["ENDPOINTS", "Endpoint", "EndpointConfig"]
