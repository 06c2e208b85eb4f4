"""Fuzzing every webhook endpoint with signed, mutated platform payloads (Hypothesis, seeded).

Each example takes a platform's fixture, mutates it (a field replaced by a hostile value, a field
removed, a value nested deep), signs the result correctly and posts it to the endpoint of the
real FastAPI app (order-capture's or shipping-tracker's edge, fakes behind it). Properties:

* the answer is one of 200, 400, 401, 403, 413, 415, never a 5xx;
* a 200 stored exactly one raw delivery, and the intake stage's interpretation of it ends in
  exactly one outcome: events that encode with their contracts, nothing (an event the service
  ignores), or a :class:`~bus.errors.PermanentError` (a dead letter) whose message quotes none
  of the fixture's personal data; any other exception is a defect;
* a refusal stored nothing.

``derandomize=True`` makes every run check the same examples; the run is bounded by
``max_examples`` (a few seconds per endpoint).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.errors import PermanentError
from bus.http import ApiClient
from bus.serde import AvroCodec
from bus.webhooks import Endpoint, IntakeLog, webhook_app
from bus.webhooks.endpoint import checked
from bus.webhooks.publication import Publication
from bus.webhooks.signatures import SCHEMES
from bus.webhooks.stage import delivery_of
from bus.webhooks.tenants import Tenant, Tenants
from services.order_capture.handlers import OrderCapture, Topics
from services.order_capture.settings import OrderCaptureSettings
from services.order_capture.wiring import SHOPS_SETTING, endpoints
from services.shipping_tracker.handlers import CarrierIdentities, TrackingWebhooks
from services.shipping_tracker.storefront import Storefront
from simulators import fixture
from tests.unit.serde.fake_registry import FakeRegistry
from tests.unit.webhooks.fakes import FakeSender

NOW = 1_749_000_000.0
SHOP = "hanako-tea.myshopify.com"
SECRETS = {"shopify": "shp", "woocommerce": "wc", "bigcommerce": "bc", "easypost": "ep", "aftership": "as"}
ANSWERS = {200, 400, 401, 403, 413, 415}
PERSONAL = ("Hanako", "Sato", "佐藤", "花子", "hanako@example.jp", "神宮前", "Jingumae", "Müller",
            "Siobhán", "09012345678", "+81 90-1234-5678")
"""Personal data of the fixtures that no error message may quote."""

HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40),
    st.sampled_from(["", " =HYPERLINK(\"x\")", "9999-12-31T23:59:59-23:59", "1e400",
                     "\uff11\uff12\uff13", "\u22123", "Hanako Sato", "NaN"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.integers(min_value=1, max_value=300).map(lambda depth: _nested(depth)))


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (dict keys and list indexes)."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            found += _paths(item, (*prefix, index))
    return found


def _mutate(document: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """A copy of ``document`` with one to three fields replaced or removed."""
    mutated = json.loads(json.dumps(document))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="mutations")):
        paths = _paths(mutated)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        parent = mutated
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and data.draw(st.booleans(), label="remove"):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(HOSTILE, label="value")
    return mutated


@dataclass
class Edge:
    """One service's edge with fakes behind it, and its stage's interpretation."""

    client: TestClient
    sender: FakeSender
    codec: AvroCodec
    interpret: Callable[[Any], Publication]

    def post(self, platform: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        signed = SCHEMES[platform].sign(SECRETS[platform], body, now=NOW)
        return self.client.post(f"/webhooks/{platform}", content=body,
                                headers={"Content-Type": "application/json", **headers, **signed})

    def check(self, platform: str, document: dict[str, Any], headers: dict[str, str]) -> None:
        before = len(self.sender.produced)
        answer = self.post(platform, json.dumps(document, ensure_ascii=False).encode(), headers)
        assert answer.status_code in ANSWERS, (answer.status_code, answer.text[:200])
        stored = self.sender.produced[before:]
        if answer.status_code != 200:
            assert not stored, "a refusal stores nothing"
            assert not any(p in answer.text for p in PERSONAL), answer.text
            return
        assert len(stored) == 1, "a 200 stores exactly one raw delivery"
        topic, value, _key, _headers = stored[0]
        self._interpreted(topic, value or b"")

    def _interpreted(self, topic: str, value: bytes) -> None:
        delivery = delivery_of(self.codec.decode(topic, value))
        try:
            publication = checked(delivery.platform, self.interpret, delivery)
        except PermanentError as exc:  # the stage dead-letters it, with this reason
            assert not any(p in str(exc) for p in PERSONAL), str(exc)
            return
        for record in publication.records:  # the events encode with their contracts
            self.codec.encode(record.topic, record.value)


def _bigcommerce_api() -> ApiClient:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/v2/orders/250"):
            return httpx.Response(200, content=fixture("bigcommerce_order_250.json"))
        return httpx.Response(404, json={"status": 404})

    return ApiClient("bigcommerce", "https://api.bigcommerce.test", transport=httpx.MockTransport(answer))


def _storefront_edge() -> Edge:
    settings_ = OrderCaptureSettings(
        shopify_webhook_secret=SECRETS["shopify"], woocommerce_webhook_secret=SECRETS["woocommerce"],
        bigcommerce_webhook_secret=SECRETS["bigcommerce"],
        shops=[Tenant(platform="shopify", domain=SHOP),
               Tenant(platform="woocommerce", domain="shop.example.de"),
               Tenant(platform="bigcommerce", domain="1025646")])
    codec, sender = AvroCodec(FakeRegistry().client()), FakeSender()
    capture = OrderCapture(Topics(), _bigcommerce_api(), clock=lambda: NOW)
    intake = IntakeLog(sender, codec, "intake.storefronts.v1", "order-capture")
    app = webhook_app("order-capture", endpoints(settings_, capture), intake, max_body_bytes=256 * 1024,
                      clock=lambda: NOW, tenants=Tenants(settings_.shops, SHOPS_SETTING))
    return Edge(TestClient(app), sender, codec, capture.interpret)


def _carrier_edge() -> Edge:
    def store(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"orders": [{"id": 6120004415, "name": "#1042"}]})

    api = ApiClient("storefront", "https://shop.test", transport=httpx.MockTransport(store))
    storefront = Storefront(api, "shopify", SHOP, sleep=lambda _s: None)
    codec, sender = AvroCodec(FakeRegistry().client()), FakeSender()
    tracking = TrackingWebhooks("shipments.tracking.v1", storefront)
    intake = IntakeLog(sender, codec, "intake.carriers.v1", "shipping-tracker")
    app = webhook_app("shipping-tracker", [
        Endpoint("/webhooks/easypost", "easypost", CarrierIdentities.easypost, _secret("easypost")),
        Endpoint("/webhooks/aftership", "aftership", CarrierIdentities.aftership, _secret("aftership"))],
        intake, max_body_bytes=256 * 1024, clock=lambda: NOW)
    return Edge(TestClient(app), sender, codec, tracking.interpret)


def _secret(platform: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(SECRETS[platform])


STOREFRONT = _storefront_edge()
CARRIERS = _carrier_edge()
FUZZ = settings(derandomize=True, max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HEADERS = {
    "shopify": {"X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": SHOP,
                "X-Shopify-Event-Id": "e1"},
    "woocommerce": {"X-WC-Webhook-Topic": "order.created",
                    "X-WC-Webhook-Source": "https://shop.example.de/"},
    "bigcommerce": {},
    "easypost": {},
    "aftership": {},
}
FIXTURES = {"shopify": "shopify_orders_create.json", "woocommerce": "woocommerce_order_created.json",
            "bigcommerce": "bigcommerce_order_created.json", "easypost": "easypost_tracker_updated.json",
            "aftership": "aftership_tracking_update.json"}


def _base(platform: str) -> dict[str, Any]:
    """The platform's fixture, naming the demo store's order #1042 where a carrier's names none."""
    document: dict[str, Any] = json.loads(fixture(FIXTURES[platform]))
    if platform == "easypost":
        document["result"].setdefault("reference", "#1042")
    return document


def _fuzz(edge: Edge, platform: str, data: st.DataObject) -> None:
    edge.check(platform, _mutate(_base(platform), data), HEADERS[platform])


@FUZZ
@given(data=st.data())
def test_shopify_webhooks(data: st.DataObject) -> None:
    _fuzz(STOREFRONT, "shopify", data)


@FUZZ
@given(data=st.data())
def test_woocommerce_webhooks(data: st.DataObject) -> None:
    _fuzz(STOREFRONT, "woocommerce", data)


@FUZZ
@given(data=st.data())
def test_bigcommerce_webhooks(data: st.DataObject) -> None:
    _fuzz(STOREFRONT, "bigcommerce", data)


@FUZZ
@given(data=st.data())
def test_easypost_webhooks(data: st.DataObject) -> None:
    _fuzz(CARRIERS, "easypost", data)


@FUZZ
@given(data=st.data())
def test_aftership_webhooks(data: st.DataObject) -> None:
    _fuzz(CARRIERS, "aftership", data)


def test_the_unmutated_fixtures_are_accepted_and_mean_events() -> None:
    """The properties above would hold vacuously if every example were refused."""
    for platform, edge in (("shopify", STOREFRONT), ("woocommerce", STOREFRONT),
                           ("bigcommerce", STOREFRONT), ("easypost", CARRIERS), ("aftership", CARRIERS)):
        before = len(edge.sender.produced)
        answer = edge.post(platform, json.dumps(_base(platform)).encode(), HEADERS[platform])
        assert answer.status_code == 200, (platform, answer.text)
        topic, value, _key, _headers = edge.sender.produced[before]
        delivery = delivery_of(edge.codec.decode(topic, value or b""))
        assert edge.interpret(delivery).records, platform
