"""Fetching what a thin after-sale webhook leaves out, from the platform's API.

* WooCommerce: an ``order.updated`` lists its refunds as summaries (``{"id", "reason",
  "total"}``); their lines come from ``GET /wp-json/wc/v3/orders/<id>/refunds``.
* BigCommerce: a refund or status webhook carries only the order id; the refunds come from
  ``GET /stores/<hash>/v3/orders/<id>/payment_actions/refunds`` (``{"data": [...]}``).

Transient API failures (timeouts, 429, 5xx) are :class:`~bus.errors.TransientError` from
:class:`~bus.http.ApiClient`: the intake stage retries the delivery within its budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bus.errors import InvalidInput
from bus.http import ApiClient
from bus.webhooks.body import parse_json
from services.order_capture import bigcommerce_aftersale as bc_after
from services.order_capture import woocommerce_aftersale as woo_after

ACCEPT = {"Accept": "application/json"}


def woocommerce_refunds(api: ApiClient | None, order: dict[str, Any], order_ref: str) -> dict[str, Any]:
    """The order with its ``refunds`` summaries replaced by the full refund objects (with their
    lines), when some summary lacks lines and the API is configured; else the order unchanged.

    Raises:
        InvalidInput: the API did not answer an array.
    """
    summaries = order.get("refunds")
    if api is None or not isinstance(summaries, list) or all(
            isinstance(r, Mapping) and "line_items" in r for r in summaries):
        return order
    found = parse_json(api.request("GET", woo_after.refunds_path(order_ref), headers=ACCEPT).content)
    if not isinstance(found, list):
        raise InvalidInput("the WooCommerce refunds API did not answer an array", field="refunds")
    full = {r.get("id"): r for r in found if isinstance(r, Mapping)}
    refunds = [full.get(r.get("id"), r) if isinstance(r, Mapping) else r for r in summaries]
    return {**order, "refunds": refunds}


def bigcommerce_refunds(api: ApiClient, webhook: Mapping[str, Any]) -> list[Any]:
    """The v3 refunds of the order a BigCommerce webhook names.

    Raises:
        InvalidInput: the webhook's ids are malformed, or the API did not answer ``{"data": [...]}``.
    """
    found = parse_json(api.request("GET", bc_after.refunds_path(webhook), headers=ACCEPT).content)
    refunds = found.get("data") if isinstance(found, dict) else None
    if not isinstance(refunds, list):
        raise InvalidInput("the BigCommerce refunds API did not answer a data array", field="data")
    return refunds
