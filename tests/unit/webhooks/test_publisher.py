"""Publisher: once per dedupe key, 503 unless every record was acknowledged, no doubles on retry."""

from __future__ import annotations

import asyncio
import json

import pytest

from bus.errors import InvalidInput, SerializationError, TransientError, Unavailable
from bus.runtime.codec import JsonCodec
from bus.webhooks.publisher import Publication, Publisher, Record
from tests.unit.webhooks.fakes import FakeDedupe, FakeSender


def _publication(event: str = "evt-1") -> Publication:
    return Publication((f"shopify:shop:{event}",), (
        Record("orders", "shopify:shop:1", {"order_id": "shopify:shop:1", "name": "佐藤"}, f"{event}"),
        Record("customers", "hanako@example.jp", {"email": "hanako@example.jp"}, f"{event}:customer")))


def _publisher(sender: FakeSender, dedupe: FakeDedupe | None = None) -> Publisher:
    return Publisher(sender, JsonCodec(), dedupe or FakeDedupe(), ack_timeout=0.5)


def test_published_once_then_duplicate() -> None:
    sender, dedupe = FakeSender(), FakeDedupe()
    publisher = _publisher(sender, dedupe)
    first = asyncio.run(publisher.publish(_publication()))
    again = asyncio.run(publisher.publish(_publication()))
    assert (first.outcome, again.outcome) == ("published", "duplicate")
    assert sender.topics() == ["orders", "customers"]
    assert json.loads(sender.produced[0][1] or b"") == {"order_id": "shopify:shop:1", "name": "佐藤"}
    assert sender.produced[0][2] == "shopify:shop:1"
    assert dedupe.ids == {"shopify:shop:evt-1"}


def test_a_record_not_acknowledged_is_a_503_and_the_retry_stores_only_what_is_missing() -> None:
    sender = FakeSender(failing={"customers"})
    publisher = _publisher(sender)
    with pytest.raises(Unavailable, match="did not store"):
        asyncio.run(publisher.publish(_publication()))
    assert sender.topics() == ["orders"]
    sender.failing.clear()
    assert asyncio.run(publisher.publish(_publication())).outcome == "published"
    assert sender.topics() == ["orders", "customers"], "the order was not produced twice"


def test_two_deliveries_of_one_event_at_the_same_time_produce_once() -> None:
    sender = FakeSender(delay=0.05)
    publisher = _publisher(sender)

    async def both() -> list[str]:
        results = await asyncio.gather(publisher.publish(_publication()), publisher.publish(_publication()))
        return sorted(r.outcome for r in results)

    assert asyncio.run(both()) == ["duplicate", "published"]
    assert sender.topics() == ["orders", "customers"]


def test_nothing_to_publish_is_ignored_and_nothing_is_marked() -> None:
    sender, dedupe = FakeSender(), FakeDedupe()
    ignored = Publication.ignored("orders/paid is not handled")
    result = asyncio.run(_publisher(sender, dedupe).publish(ignored))
    assert (result.outcome, result.note, sender.produced, dedupe.ids) == (
        "ignored", "orders/paid is not handled", [], set())


class _Codec:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def encode(self, topic: str, value: object) -> bytes:
        raise self.error

    def decode(self, topic: str, data: bytes) -> object:
        raise NotImplementedError


def test_encoding_failures_map_to_400_and_503() -> None:
    sender = FakeSender()
    bad_data = Publisher(sender, _Codec(SerializationError("decimal scale")), FakeDedupe())
    with pytest.raises(InvalidInput, match="cannot be represented"):
        asyncio.run(bad_data.publish(_publication()))
    no_registry = Publisher(sender, _Codec(TransientError("registry down")), FakeDedupe())
    with pytest.raises(Unavailable, match="registry"):
        asyncio.run(no_registry.publish(_publication()))
    assert sender.produced == []
