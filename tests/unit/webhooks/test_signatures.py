"""Every platform's signature scheme: what the platform sends verifies, anything else is 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import unicodedata

import pytest

from bus.errors import Unauthorized
from bus.webhooks.signatures import SCHEMES, StandardWebhooks, lower_headers
from simulators import FIXTURES

SECRET = "s3cr3t-ü"
NOW = 1_749_000_000.0


@pytest.mark.parametrize("platform", sorted(SCHEMES))
def test_what_the_platform_signs_verifies(platform: str) -> None:
    body = (FIXTURES / "shopify_orders_create.json").read_bytes()
    headers = lower_headers(SCHEMES[platform].sign(SECRET, body, now=NOW))
    SCHEMES[platform].verify(SECRET, body, headers, now=NOW)


@pytest.mark.parametrize("platform", sorted(SCHEMES))
def test_a_changed_body_a_wrong_secret_or_no_signature_is_refused(platform: str) -> None:
    scheme = SCHEMES[platform]
    body = "{\"name\":\"佐藤 花子\",\"total\":\"38.63\"}".encode()
    headers = lower_headers(scheme.sign(SECRET, body, now=NOW))
    with pytest.raises(Unauthorized, match=r"does not match|no v1 signature"):
        scheme.verify(SECRET, body.replace(b"38.63", b"38.64"), headers, now=NOW)
    with pytest.raises(Unauthorized):
        scheme.verify("another secret", body, headers, now=NOW)
    with pytest.raises(Unauthorized, match="missing"):
        scheme.verify(SECRET, body, {}, now=NOW)


def test_shopify_header_is_base64_of_the_hmac_over_the_exact_bytes() -> None:
    body = (FIXTURES / "shopify_orders_create.json").read_bytes()
    expected = base64.b64encode(hmac.new(b"k", body, hashlib.sha256).digest()).decode()
    assert SCHEMES["shopify"].sign("k", body) == {"X-Shopify-Hmac-Sha256": expected}
    SCHEMES["shopify"].verify("k", body, {"x-shopify-hmac-sha256": expected})
    with pytest.raises(Unauthorized, match="not base64"):
        SCHEMES["shopify"].verify("k", body, {"x-shopify-hmac-sha256": "not base64!"})
    reparsed = json.dumps(json.loads(body), ensure_ascii=False).encode()
    with pytest.raises(Unauthorized):  # re-serialised JSON is not the raw body
        SCHEMES["shopify"].verify("k", reparsed, {"x-shopify-hmac-sha256": expected})


def test_easypost_hex_with_its_prefix_in_either_case() -> None:
    body = (FIXTURES / "easypost_tracker_updated.json").read_bytes()
    key = unicodedata.normalize("NFKD", SECRET).encode()  # EasyPost normalises the secret first
    digest = hmac.new(key, body, hashlib.sha256).hexdigest()
    SCHEMES["easypost"].verify(SECRET, body, {"x-hmac-signature": f"hmac-sha256-hex={digest.upper()}"})
    with pytest.raises(Unauthorized, match="does not start with"):
        SCHEMES["easypost"].verify(SECRET, body, {"x-hmac-signature": digest})


def test_standard_webhooks_timestamp_tolerance_and_several_signatures() -> None:
    scheme = StandardWebhooks(tolerance=300)
    body = (FIXTURES / "bigcommerce_order_created.json").read_bytes()
    headers = lower_headers(scheme.sign("whsec_" + base64.b64encode(b"key bytes").decode(), body,
                                        now=NOW, message_id="msg_1"))
    secret = "whsec_" + base64.b64encode(b"key bytes").decode()
    scheme.verify(secret, body, headers, now=NOW + 299)
    with pytest.raises(Unauthorized, match="from now"):
        scheme.verify(secret, body, headers, now=NOW + 301)
    with pytest.raises(Unauthorized, match="from now"):
        scheme.verify(secret, body, headers, now=NOW - 301)
    rotated = {**headers, "webhook-signature": "v1,b2xkIHNpZw== " + headers["webhook-signature"]}
    scheme.verify(secret, body, rotated, now=NOW)
    other_id = {**headers, "webhook-id": "msg_2"}
    with pytest.raises(Unauthorized, match="no v1 signature"):
        scheme.verify(secret, body, other_id, now=NOW)
    with pytest.raises(Unauthorized, match="not a number"):
        scheme.verify(secret, body, {**headers, "webhook-timestamp": "yesterday"}, now=NOW)


def test_header_names_are_case_insensitive() -> None:
    body = b"{}"
    sent = SCHEMES["aftership"].sign(SECRET, body)
    assert list(sent) == ["aftership-hmac-sha256"]
    mixed_case = {"AfterShip-HMAC-SHA256": sent["aftership-hmac-sha256"]}
    SCHEMES["aftership"].verify(SECRET, body, lower_headers(mixed_case))
