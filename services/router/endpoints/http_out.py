"""``http_out``: POST or PUT each message to an HTTP API as JSON, XML, CSV or cXML (order, credit memo).

Example::

    to:
      - http_out:
          base_url: "${ERP_URL:-http://127.0.0.1:8094}"
          path: /cxml/orders                   # or an expression: "concat('/orders/', order_id)"
          method: POST
          format: cxml_order_request           # json | xml | csv | cxml_order_request | cxml_credit_memo
          auth: {bearer_env: ERP_API_TOKEN}    # see http_auth
          headers: {X-Source: ecombus}
          idempotency_key: meta.event_id       # sent as Idempotency-Key
          retry: {max_attempts: 5, budget_seconds: 30}
          rate_limit: {per_second: 5, burst: 10}

Calls go through :class:`bus.http.ApiClient`: 429/5xx/timeouts are transient (retried here
within ``retry``, Retry-After honoured, then by the runtime), other 4xx permanent (dead-letter).
The rate limit is a token bucket shared by every message of the endpoint.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bus.runtime.rate import TokenBucket
from bus.runtime.retry import RetryPolicy
from services.router.endpoints.base import Endpoint, EndpointConfig, Outbox, register
from services.router.endpoints.http_auth import AuthConfig, client_options
from services.router.expressions import Expr, compile_expression
from services.router.formats import csv as csv_format
from services.router.formats.cxml import order_request
from services.router.formats.cxml_credit_memo import credit_memo
from services.router.formats.xml import render_record
from services.router.message import Message, Origin

CONTENT_TYPES = {"json": "application/json", "xml": "application/xml; charset=utf-8",
                 "csv": "text/csv; charset=utf-8", "cxml_order_request": "text/xml; charset=utf-8",
                 "cxml_credit_memo": "text/xml; charset=utf-8"}


class RetryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(3, ge=1, le=20)
    budget_seconds: float = Field(10.0, gt=0, le=120)


class RateLimitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    per_second: float = Field(gt=0)
    burst: int = Field(1, ge=1)


@register("http_out")
class HttpOut(Endpoint):
    """Send each message as one HTTP request."""

    can_write = True

    class Config(EndpointConfig):
        base_url: str = Field(pattern=r"^https?://")
        path: str = "/"
        method: Literal["POST", "PUT"] = "POST"
        format: Literal["json", "xml", "csv", "cxml_order_request", "cxml_credit_memo"] = "json"
        xml_root: str = "record"
        headers: dict[str, str] = {}
        auth: AuthConfig | None = None
        idempotency_key: Expr | None = None
        timeout_seconds: float = Field(10.0, gt=0)
        retry: RetryConfig = RetryConfig(max_attempts=3, budget_seconds=10.0)
        rate_limit: RateLimitConfig | None = None

    def __init__(self, name: str, config: Any, build: Any) -> None:
        super().__init__(name, config, build)
        self._path = None if config.path.startswith("/") else compile_expression(config.path)
        self._options = client_options(config, build)
        self._bucket = (TokenBucket(config.rate_limit.per_second, config.rate_limit.burst)
                        if config.rate_limit else None)
        self._client: Any = None

    def describe(self) -> str:
        return f"http:{self.config.method} {self.config.path}"

    def reads(self) -> list:
        found = super().reads()
        return found + ([self._path] if self._path is not None else [])

    def start(self) -> None:
        from bus.http import ApiClient

        retry = RetryPolicy(max_attempts=self.config.retry.max_attempts,
                            budget_seconds=self.config.retry.budget_seconds)
        self._client = ApiClient("router:" + self.config.base_url, self.config.base_url, retry=retry,
                                 metrics=self.build.extra.get("runtime_metrics"), service="router",
                                 **self._options)

    def render(self, msg: Message) -> bytes:
        """The request body for one message."""
        body, fmt = msg.body, self.config.format
        if fmt == "cxml_order_request":
            return order_request(body)
        if fmt == "cxml_credit_memo":
            return credit_memo(body)
        if fmt == "xml":
            return render_record(self.config.xml_root, body).encode()
        if fmt == "csv":
            columns = list(body)
            return (csv_format.render_header(columns) + csv_format.render_row(body.values())).encode()
        from bus.serde.json_view import to_json

        return to_json(body).encode() if not isinstance(body, bytes) else body

    def send(self, msg: Message, origin: Origin, outbox: Outbox) -> None:
        if self._client is None:
            self.start()
        headers = {"Content-Type": CONTENT_TYPES[self.config.format]}
        if self.config.idempotency_key is not None:
            key = self.config.idempotency_key(msg.body, msg.headers, msg.key)
            if key is not None:
                headers["Idempotency-Key"] = str(key)
        path = self.config.path if self._path is None else str(self._path(msg.body, msg.headers, msg.key))
        if self._bucket is not None:
            self._bucket.take()
        self._client.request(self.config.method, path, content=self.render(msg), headers=headers)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


__all__ = ["HttpOut", "TokenBucket"]
