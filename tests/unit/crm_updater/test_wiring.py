"""crm-updater's wiring: exactly-once always, handlers on the configured topics, nothing connects."""

from __future__ import annotations

from bus.runtime.codec import JsonCodec
from bus.runtime.service import RuntimeSettings
from bus.settings import KafkaSettings
from services.crm_updater.settings import CrmUpdaterSettings
from services.crm_updater.wiring import build


def test_build_wires_without_touching_the_network() -> None:
    settings = CrmUpdaterSettings(orders_topic="o", profiles_topic="p", outbox_topic="x")
    updater = build(settings, RuntimeSettings(exactly_once=False, group_id="g"), KafkaSettings(),
                    codec=JsonCodec())
    assert updater.runtime.exactly_once, "always exactly-once: the state is only right that way"
    assert updater.service.handlers.topics == ["o", "p"]
    assert (updater.flusher.group_id, updater.flusher.topic, updater.group_id) == ("g.crm", "x", "g")
    assert updater.flusher.batch.size == 100
