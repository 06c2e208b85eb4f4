"""Outbound HTTP for every adapter: one httpx client, errors classified, retries bounded.

:class:`ApiClient` turns responses into the bus' error split so the runtime can act on them:

* 2xx → the response;
* 429 and 5xx, timeouts, connection errors → :class:`~bus.errors.TransientError` (with
  ``retry_after`` from a ``Retry-After`` header, seconds or HTTP date);
* other 4xx → :class:`~bus.errors.PermanentError` (the request itself is wrong: retrying cannot
  help), with the status and the start of the body in the message.

:meth:`ApiClient.request` retries transient failures with the given
:class:`~bus.runtime.retry.RetryPolicy` (honouring Retry-After); pass ``retry=None`` to raise at
once and let the consumer loop's own retry budget decide. Every call is counted in
``ecombus_http_client_requests_total`` and timed in
``ecombus_http_client_request_duration_seconds`` when metrics are given. Inject an
``httpx.MockTransport`` in unit tests.
"""

from __future__ import annotations

import email.utils
import time
from typing import TYPE_CHECKING, Any

import httpx

from bus.errors import PermanentError, TransientError
from bus.runtime.retry import RetryPolicy

if TYPE_CHECKING:
    from bus.observability.metrics import RuntimeMetrics


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse a Retry-After header: delta-seconds or an HTTP date. None when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def classify(response: httpx.Response) -> httpx.Response:
    """Return a 2xx response; raise TransientError or PermanentError for anything else."""
    if response.is_success:
        return response
    where = f"{response.request.method} {response.request.url.copy_with(query=None)}"
    body = response.text[:300]
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientError(f"{where} answered {response.status_code}: {body}",
                             retry_after=retry_after_seconds(response.headers.get("Retry-After")))
    raise PermanentError(f"{where} answered {response.status_code}: {body}")


class ApiClient:
    """An HTTP API as one named target (``shopify``, ``hubspot``, ``erp``...).

    Args:
        target: the metrics label and the name in error messages.
        base_url: prefix of every path.
        retry: default retry policy of :meth:`request` (None: no retries).
        metrics/service: where to count requests, if anywhere.
        **client_options: passed to ``httpx.Client`` (headers, auth, timeout, transport, ...).
    """

    def __init__(self, target: str, base_url: str, *, retry: RetryPolicy | None = None,
                 metrics: RuntimeMetrics | None = None, service: str = "",
                 **client_options: Any) -> None:
        client_options.setdefault("timeout", httpx.Timeout(10.0, connect=3.0))
        self.target = target
        self.retry = retry
        self._metrics = metrics
        self._service = service
        self._http = httpx.Client(base_url=base_url, **client_options)

    def request(self, method: str, path: str, *, retry: RetryPolicy | bool | None = True,
                **kwargs: Any) -> httpx.Response:
        """Send a request; return the 2xx response or raise Transient/PermanentError.

        Args:
            retry: True uses the client's policy, None/False none, or a policy for this call.
            **kwargs: httpx request arguments (json, content, params, headers, ...).
        """
        policy = self.retry if retry is True else (retry or None)
        if policy is None:
            return self._once(method, path, **kwargs)
        return policy.call(lambda: self._once(method, path, **kwargs))

    def _once(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        started = time.monotonic()
        outcome = "error"
        try:
            response = self._http.request(method, path, **kwargs)
            outcome = str(response.status_code)
            return classify(response)
        except httpx.TimeoutException as exc:
            outcome = "timeout"
            raise TransientError(f"{self.target}: {method} {path} timed out: {exc}") from exc
        except httpx.TransportError as exc:
            outcome = "unreachable"
            raise TransientError(f"{self.target}: {method} {path} failed: {exc}") from exc
        finally:
            if self._metrics is not None:
                self._metrics.http_requests.labels(self._service, self.target, outcome).inc()
                self._metrics.http_seconds.labels(self._service, self.target).observe(
                    time.monotonic() - started)

    def close(self) -> None:
        self._http.close()
