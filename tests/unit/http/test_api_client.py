import httpx
import pytest
from prometheus_client import CollectorRegistry

from bus.errors import PermanentError, TransientError
from bus.http import ApiClient, retry_after_seconds
from bus.observability.metrics import RuntimeMetrics
from bus.runtime.retry import RetryPolicy


def _client(handler, **kwargs):  # type: ignore[no-untyped-def]
    return ApiClient("shopify", "https://shop.example", transport=httpx.MockTransport(handler), **kwargs)


def test_429_is_transient_with_retry_after() -> None:
    client = _client(lambda r: httpx.Response(429, headers={"Retry-After": "2.0"}, text="slow down"))
    with pytest.raises(TransientError) as err:
        client.request("POST", "/inventory", retry=None)
    assert err.value.retry_after == 2.0
    assert "429" in str(err.value)


def test_4xx_is_permanent_and_names_the_request() -> None:
    client = _client(lambda r: httpx.Response(422, text='{"errors": "sku unknown"}'))
    with pytest.raises(PermanentError, match=r"POST https://shop.example/x answered 422: .*sku unknown"):
        client.request("POST", "/x", params={"token": "secret"})


def test_transient_failures_are_retried_and_counted() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            return httpx.Response(503)
        return httpx.Response(200, json={"ok": True})

    registry = CollectorRegistry()
    metrics = RuntimeMetrics("inventory-sync", registry)
    client = _client(handler, retry=RetryPolicy(initial_backoff=0.001, max_backoff=0.01),
                     metrics=metrics, service="inventory-sync")
    assert client.request("GET", "/levels").json() == {"ok": True}
    assert len(calls) == 3
    labels = {"service": "inventory-sync", "target": "shopify"}
    assert registry.get_sample_value("ecombus_http_client_requests_total", {**labels, "outcome": "503"}) == 2
    assert registry.get_sample_value("ecombus_http_client_requests_total", {**labels, "outcome": "200"}) == 1


def test_connection_errors_are_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(TransientError, match="failed"):
        _client(handler).request("GET", "/", retry=None)


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
