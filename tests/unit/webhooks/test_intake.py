"""The raw intake: the RawDelivery envelope, its round trip through Avro back to the verified
delivery the stage interprets, and every failure to store it being a 503 (never a 2xx)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from bus.errors import FormatError, SerializationError, TransientError, Unavailable
from bus.serde import AvroCodec
from bus.webhooks.intake import (
    ENVELOPE_ALLOWANCE_BYTES,
    MAX_HEADER_VALUE_CHARS,
    RECONCILIATION,
    WEBHOOK,
    Identity,
    IntakeLog,
    intake_producer_overrides,
)
from bus.webhooks.stage import delivery_of
from tests.unit.serde.fake_registry import FakeRegistry
from tests.unit.webhooks.fakes import FakeSender

INTAKE = "intake.storefronts.v1"
NOW = 1_749_000_000.123
IDENTITY = Identity("hanako-tea.myshopify.com", "shopify:hanako-tea.myshopify.com:61", "orders/create")
BODY = '{"id": 61, "total_price": 12.50, "note": "佐藤花子"}'.encode()


def _log(sender: FakeSender, codec: object = None) -> IntakeLog:
    return IntakeLog(sender, codec or AvroCodec(FakeRegistry().client()), INTAKE, "order-capture",  # type: ignore[arg-type]
                     ack_timeout=0.5, clock=lambda: NOW)


def test_a_stored_delivery_reads_back_as_the_verified_delivery() -> None:
    codec = AvroCodec(FakeRegistry().client())
    sender = FakeSender()
    headers = {"x-shopify-event-id": "evt-1", "cookie": "s=1", "authorization": "Bearer t",
               "proxy-authorization": "Basic x", "x-long": "v" * (MAX_HEADER_VALUE_CHARS + 10)}
    delivery_id = asyncio.run(_log(sender, codec).write("shopify", IDENTITY, WEBHOOK, "/webhooks/shopify",
                                                        headers, BODY, NOW, "203.0.113.9"))
    [(topic, value, key, _)] = sender.produced
    assert (topic, key) == (INTAKE, IDENTITY.key)
    raw = codec.decode(INTAKE, value or b"")
    assert raw["remote_addr"] == "203.0.113.9"
    delivery = delivery_of(raw)
    assert delivery.body == BODY, "byte for byte"
    assert delivery.payload == {"id": 61, "total_price": Decimal("12.50"), "note": "佐藤花子"}, "exact"
    assert (delivery.platform, delivery.path, delivery.channel, delivery.topic) == (
        "shopify", "/webhooks/shopify", WEBHOOK, "orders/create")
    assert (delivery.tenant, delivery.identity, delivery.delivery_id) == (
        IDENTITY.tenant, IDENTITY.key, delivery_id)
    assert delivery.received_at == pytest.approx(NOW, abs=0.001), "kept to the millisecond"
    assert set(delivery.headers) == {"x-shopify-event-id", "x-long"}, "credentials are never stored"
    assert len(delivery.headers["x-long"]) == MAX_HEADER_VALUE_CHARS


def test_the_envelope_before_encoding_reads_back_too() -> None:
    envelope = _log(FakeSender()).envelope("shopify", IDENTITY, RECONCILIATION, "/admin/orders.json", {},
                                           BODY, NOW)
    delivery = delivery_of(envelope)
    assert (delivery.channel, delivery.received_at) == (RECONCILIATION, int(NOW * 1000) / 1000.0)
    other = _log(FakeSender()).envelope("shopify", IDENTITY, RECONCILIATION, "/", {}, BODY, NOW)
    assert other["meta"]["event_id"] != envelope["meta"]["event_id"], "a new id per delivery"


def test_a_stored_body_that_is_no_json_object_is_a_format_error() -> None:
    envelope = _log(FakeSender()).envelope("shopify", IDENTITY, WEBHOOK, "/", {}, b"[61]", NOW)
    with pytest.raises(FormatError):
        delivery_of(envelope)


class _Codec:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def encode(self, topic: str, value: object) -> bytes:
        raise self.error

    def decode(self, topic: str, data: bytes) -> object:
        raise NotImplementedError


@pytest.mark.parametrize(("error", "says"), [
    (TransientError("registry down"), "registry"),
    (SerializationError("bytes expected"), "could not be enveloped: SerializationError"),
])
def test_an_envelope_that_cannot_be_encoded_is_503_never_a_2xx(error: Exception, says: str) -> None:
    sender = FakeSender()
    with pytest.raises(Unavailable, match=says):
        asyncio.run(_log(sender, _Codec(error)).write("shopify", IDENTITY, WEBHOOK, "/", {}, BODY))
    assert sender.produced == []


def test_a_broker_that_does_not_acknowledge_is_unavailable() -> None:
    sender = FakeSender(failing={INTAKE})
    with pytest.raises(Unavailable, match="did not store"):
        asyncio.run(_log(sender).write("shopify", IDENTITY, WEBHOOK, "/", {}, BODY))


def test_the_edge_producer_takes_any_body_the_limit_accepts_and_gives_up_within_the_budget() -> None:
    overrides = intake_producer_overrides(2.5, 5 * 1024 * 1024)
    assert overrides["message.max.bytes"] == 5 * 1024 * 1024 + ENVELOPE_ALLOWANCE_BYTES
    assert overrides["message.timeout.ms"] == 2500
    assert intake_producer_overrides(0.1, 1024)["message.max.bytes"] == 1_000_000, "never below the default"
