"""``enrich``: add data from an HTTP lookup to the body, with a cache.

Example::

    - enrich:
        base_url: "${ERP_URL:-http://127.0.0.1:8094}"
        path: "concat('/items/', line.sku)"      # an expression
        target: item                             # the JSON answer goes to body.item
        cache_ttl_seconds: 300
        on_not_found: null                       # or fail (dead-letter)
        auth: {bearer_env: ERP_API_TOKEN}        # optional, see http_out

Lookups use :class:`bus.http.ApiClient` without retries of their own: a 429/5xx/timeout is a
transient error and the runtime retries the input within its budget; another 4xx is permanent.
Answers (and 404s) are cached per path for ``cache_ttl_seconds`` (least recently used evicted
beyond ``cache_size``).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Literal

from pydantic import Field

from bus.errors import PermanentError
from services.router.endpoints.http_auth import AuthConfig, client_options
from services.router.message import Message
from services.router.schema_paths import Shape, with_field
from services.router.steps.base import Expr, Flow, Step, StepConfig, register

_MISSING = object()


@register("enrich")
class Enrich(Step):
    """Look something up over HTTP and put the answer into the body."""

    class Config(StepConfig):
        base_url: str = Field(pattern=r"^https?://")
        path: Expr
        target: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
        cache_ttl_seconds: float = Field(300.0, ge=0)
        cache_size: int = Field(10_000, ge=1)
        timeout_seconds: float = Field(5.0, gt=0)
        on_not_found: Literal["null", "fail"] | None = None
        headers: dict[str, str] = {}
        auth: AuthConfig | None = None

    def __init__(self, name: str, config: Any, build: Any) -> None:
        super().__init__(name, config, build)
        self._cache: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._client: Any = None

    def start(self) -> None:
        from bus.http import ApiClient

        self._client = ApiClient(f"enrich:{self.name}", self.config.base_url, retry=None,
                                 service="router", **client_options(self.config, self.build))

    def process(self, msg: Message, flow: Flow) -> list[Message]:
        path = str(self.config.path(msg.body, msg.headers, msg.key))
        value = self._cached(path)
        if value is _MISSING:
            value = self._lookup(path)
            self._cache[path] = (self.build.clock() + self.config.cache_ttl_seconds, value)
            if len(self._cache) > self.config.cache_size:
                self._cache.popitem(last=False)
        return [msg.derive(body={**msg.body, self.config.target: value})]

    def _cached(self, path: str) -> Any:
        hit = self._cache.get(path)
        if hit is None or hit[0] < self.build.clock():
            return _MISSING
        self._cache.move_to_end(path)
        return hit[1]

    def _lookup(self, path: str) -> Any:
        if self._client is None:
            self.start()
        try:
            return self._client.request("GET", path, retry=None).json()
        except PermanentError as exc:
            if " answered 404" in str(exc) and self.config.on_not_found != "fail":
                return None
            raise

    def after(self, shape: Shape | None) -> Shape | None:
        return with_field(shape, self.config.target, None)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
